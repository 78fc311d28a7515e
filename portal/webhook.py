"""An inbound webhook URL: its host is public, its token a secret that redaction keeps unseen."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

REDACTED = "***"

_WEBHOOK_PATH = re.compile(r"^/rest/(?P<user>\d+)/(?P<token>[^/?#]+)/?$")
_URL_AUTH = re.compile(r"(?P<key>[?&](?:auth|access_token|refresh_token)=)[^&#\s\"']+")


class WebhookError(ValueError):
    """The webhook URL is not `https://HOST/rest/USER/TOKEN/`; the message shows no token."""


@dataclass(frozen=True, repr=False)
class Webhook:
    """An inbound webhook: the portal's host is public, the rest of the URL is a secret."""

    url: str
    host: str
    token: str

    @classmethod
    def parse(cls, text: str) -> Webhook:
        parts = urlsplit(text.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise WebhookError("expected a URL such as https://HOST/rest/USER/TOKEN/")
        match = _WEBHOOK_PATH.match(parts.path)
        if match is None or parts.query or parts.fragment:
            raise WebhookError(
                f"the URL for {parts.hostname} is not an inbound webhook: expected "
                f"{parts.scheme}://{parts.netloc}/rest/USER/TOKEN/"
            )
        base = f"{parts.scheme}://{parts.netloc}/rest/{match['user']}/{match['token']}/"
        return cls(url=base, host=parts.netloc, token=match["token"])

    def __repr__(self) -> str:
        return f"Webhook(host={self.host!r})"

    def redact(self, text: str) -> str:
        """The text with the token, and any token-like URL parameter, replaced by `***`."""
        if self.token:
            text = text.replace(self.token, REDACTED)
            text = text.replace(quote(self.token, safe=""), REDACTED)
        return _URL_AUTH.sub(lambda m: m["key"] + REDACTED, text)

    def redact_body(self, value: Any) -> Any:
        """A JSON value with every string redacted and every other value kept as it was."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self.redact_body(item) for item in value]
        if isinstance(value, dict):
            return {self.redact(key): self.redact_body(item) for key, item in value.items()}
        return value
