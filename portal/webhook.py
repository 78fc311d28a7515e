"""An inbound webhook URL: its host is public, its token a secret that redaction keeps unseen."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

REDACTED = "***"

_WEBHOOK_PATH = re.compile(r"^/rest/(?P<user>\d+)/(?P<token>[^/?#]+)/?$")
# Where a token hides even when it is not known: a URL's `auth=` (or an OAuth token) parameter,
# as in Drive download URLs, and a webhook's path `/rest/USER/TOKEN/` echoed in an answer.
_SECRETS = (
    re.compile(r"(?P<key>[?&](?:auth|access_token|refresh_token)=)(?!\*\*\*)[^&#\s\"']+"),
    re.compile(r"(?P<key>/rest/[0-9]+/)(?!\*\*\*)[^/?#\s\"']+"),
)


def redact(text: str, token: str = "") -> str:
    """The text with `token` (when known), and any token a URL parameter or a webhook path
    carries, replaced by `***`."""
    if token:
        text = text.replace(token, REDACTED)
        text = text.replace(quote(token, safe=""), REDACTED)
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m["key"] + REDACTED, text)
    return text


def redact_json(value: Any, token: str = "") -> Any:
    """A JSON value with every string and key redacted and every other value kept as it was."""
    if isinstance(value, str):
        return redact(value, token)
    if isinstance(value, list):
        return [redact_json(item, token) for item in value]
    if isinstance(value, dict):
        return {redact(key, token): redact_json(item, token) for key, item in value.items()}
    return value


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
        return redact(text, self.token)

    def redact_body(self, value: Any) -> Any:
        return redact_json(value, self.token)
