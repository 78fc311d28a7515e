"""Who may read the web view: anyone on 127.0.0.1, or the holder of a token or a password."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line imports this module without the [web] extra
    from aiohttp import web


@dataclass(frozen=True, slots=True)
class Access:
    """Who may read: nobody needs to prove anything unless a token or a user is set."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    @property
    def open(self) -> bool:
        return self.token is None and self.user is None

    def allows(self, request: web.Request) -> bool:
        if self.open:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if self.token is not None:
            # Only in a header: a token in the query string would reach links, logs and proxies.
            given = value if scheme.lower() == "bearer" else ""
            if given and hmac.compare_digest(given.encode(), self.token.encode()):
                return True
        if self.user is not None and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, binascii.Error):
                return False
            same_user = hmac.compare_digest(user.encode(), self.user.encode())
            same_password = hmac.compare_digest(password.encode(), (self.password or "").encode())
            return same_user and same_password
        return False
