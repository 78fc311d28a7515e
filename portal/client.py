"""The one adapter that speaks Bitrix24 REST through an inbound webhook: pages, batches, errors.

It stands on `fast-bitrix24` (https://github.com/leshchenko1979/fast_bitrix24), chosen over the
official `b24pysdk` after installing and reading both (fast-bitrix24 1.8.14, b24pysdk 1.3.2):

- `fast-bitrix24` calls the webhook URL as given, so its scheme is honoured (a local portal
  answers plain http); `b24pysdk` builds every URL as `https://{domain}/rest`, so a local portal
  would have to serve TLS with a certificate trusted through the CA-bundle variables. Both are
  maintained; `b24pysdk` is synchronous (`requests`) and retries only HTTP 503, not a
  `QUERY_LIMIT_EXCEEDED` that comes with another status.
- `fast-bitrix24` accepts the caller's `aiohttp` session, so the JSON body of a 401 or 403 reaches
  us and the error is named by the portal's own code (`insufficient_scope`, `expired_token`...);
  its default session raises on the status and drops the body.
- Its `call(..., raw=True)` returns a page's body whole, and it throttles requests as the portal
  asks (a leaky bucket of 50 requests refilled at 2 per second, and the per-method operating-time
  budget read from each answer's `time.operating`). Both libraries' list helpers flatten the
  pages into one list, so paging (by `next`, the later pages of a list fetched 50 at a time in one
  `batch`) is done here: a snapshot keeps every page as the portal returned it.
- It retries 5xx answers that carry no JSON and lost connections itself (up to 10 times);
  `QUERY_LIMIT_EXCEEDED`, `OVERLOAD_LIMIT` and `OPERATION_TIME_LIMIT` come back as JSON (with HTTP
  503, 429 or even 200) and are retried here with a bounded, configurable back-off.

The webhook's token is a secret: every text this module lets out (errors, page bodies) has passed
through `Webhook.redact`, and an error names the portal by its host alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
from fast_bitrix24 import BitrixAsync

from portal import SCOPES
from portal.webhook import Webhook

PAGE_SIZE = 50
BATCH_LIMIT = 50

# Answers that mean "slow down and ask again", whatever the HTTP status they came with.
RETRIED_CODES = frozenset({"QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT", "OPERATION_TIME_LIMIT"})
TOKEN_CODES = frozenset(
    {
        "EXPIRED_TOKEN",
        "INVALID_TOKEN",
        "INVALID_CREDENTIALS",
        "NO_AUTH_FOUND",
        "AUTHORIZATION_ERROR",
        "WRONG_AUTH_TYPE",
    }
)


class PortalError(Exception):
    """The portal refused or failed a request; the message is already redacted."""


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a throttled request is asked again."""

    tries: int = 8
    backoff_s: float = 1.0
    max_delay_s: float = 60.0

    def delay_s(self, attempt: int) -> float:
        return float(min(self.backoff_s * 2**attempt, self.max_delay_s))


def scope_of(method: str) -> str:
    """The webhook scope a method needs (`disk.file.getVersions` -> `disk`)."""
    return method.split(".", 1)[0].lower()


def php_query(params: Mapping[str, Any]) -> str:
    """Parameters as the query string of a `batch` command, the way PHP reads nested arrays."""
    pairs: list[str] = []

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                add(f"{prefix}[{quote(str(key), safe='')}]", item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                add(f"{prefix}[{index}]", item)
        else:
            pairs.append(f"{prefix}={quote(str(value), safe='')}")

    for key, value in params.items():
        add(quote(str(key), safe=""), value)
    return "&".join(pairs)


def error_of(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (code, description) of an error answer, or None; codes may be "", 0 or "100"."""
    if "error" not in body:
        return None
    error = body["error"]
    if isinstance(error, Mapping):  # REST v3 wraps it: {"error": {"code", "message"}}
        return str(error.get("code", "")), str(error.get("message", ""))
    return str(error), str(body.get("error_description", ""))


class PortalClient:
    """Calls one portal's REST methods, one page or one batch of pages at a time."""

    def __init__(
        self,
        webhook: Webhook,
        *,
        retry: Retry | None = None,
        requests_per_second: float = 2.0,
        timeout_s: float = 60.0,
    ) -> None:
        self.webhook = webhook
        self.retry = retry or Retry()
        self.requests_per_second = requests_per_second
        self.timeout_s = timeout_s
        self.calls = 0
        self._session: aiohttp.ClientSession | None = None
        self._bitrix: Any = None
        self._log_filter = _RedactingFilter(webhook)

    async def __aenter__(self) -> Self:
        _LIBRARY_LOG.addFilter(self._log_filter)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        self._bitrix = BitrixAsync(
            self.webhook.url,
            verbose=False,
            requests_per_second=self.requests_per_second,
            client=self._session,
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
        _LIBRARY_LOG.removeFilter(self._log_filter)

    async def page(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One page's body as the portal returned it (redacted), after any throttled retries."""
        body = await self._call(method, dict(params))
        return dict(self.webhook.redact_body(body))

    async def pages(
        self, method: str, params: Mapping[str, Any], starts: Sequence[int]
    ) -> list[dict[str, Any]]:
        """The pages at `starts` of one list, fetched in one `batch`, each as its command's body."""
        commands = {
            f"p{start}": f"{method}?{php_query({**params, 'start': start})}" for start in starts
        }
        body = await self._call("batch", {"halt": 0, "cmd": commands}, batch_of=method)
        inner = body.get("result")
        if not isinstance(inner, Mapping):
            raise PortalError(self._unexpected("batch", "no result object in its answer"))
        maps = {
            key: _as_map(inner.get(name))
            for key, name in (
                ("result", "result"),
                ("next", "result_next"),
                ("total", "result_total"),
                ("time", "result_time"),
            )
        }
        pages = []
        for command in commands:
            if command not in maps["result"]:
                raise PortalError(self._unexpected(method, f"batch answer lacks command {command}"))
            pages.append({key: found[command] for key, found in maps.items() if command in found})
        return [dict(self.webhook.redact_body(page)) for page in pages]

    async def _call(
        self, method: str, params: dict[str, Any], *, batch_of: str | None = None
    ) -> dict[str, Any]:
        for attempt in range(self.retry.tries):
            body = await self._send(method, params)
            failure = error_of(body) or (_batch_error(body) if method == "batch" else None)
            if failure is None:
                return body
            code, description = failure
            if code.upper() not in RETRIED_CODES or attempt + 1 == self.retry.tries:
                raise PortalError(self._refused(batch_of or method, code, description))
            await asyncio.sleep(self.retry.delay_s(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        try:
            body = await self._bitrix.call(method, params, raw=True)
        except aiohttp.ContentTypeError as error:
            raise PortalError(
                f"the portal {self.webhook.host} answered {method} with no JSON "
                f"(HTTP {error.status}); check the webhook URL"
            ) from None
        except json.JSONDecodeError:
            raise PortalError(
                f"the portal {self.webhook.host} answered {method} with a body that is not "
                "valid JSON"
            ) from None
        except aiohttp.ClientResponseError as error:
            raise PortalError(
                f"the portal {self.webhook.host} answered {method} with HTTP {error.status}"
            ) from None
        except (RuntimeError, aiohttp.ClientError, TimeoutError) as error:
            cause = error.__cause__ or error
            raise PortalError(
                f"the portal {self.webhook.host} could not be read ({method}): "
                f"{self.webhook.redact(f'{type(cause).__name__}: {cause}')}"
            ) from None
        if not isinstance(body, dict):
            raise PortalError(self._unexpected(method, "its answer is not a JSON object"))
        return body

    def _unexpected(self, method: str, what: str) -> str:
        return f"the portal {self.webhook.host} answered {method} unexpectedly: {what}"

    def _refused(self, method: str, code: str, description: str) -> str:
        said = self.webhook.redact(f"{code or 'an error'}: {description}".strip(": "))
        host = self.webhook.host
        upper = code.upper()
        if upper == "INSUFFICIENT_SCOPE":
            scope = scope_of(method)
            return (
                f"the webhook of {host} lacks the scope '{scope}' that {method} needs ({said}); "
                f"give the webhook the scopes {', '.join(SCOPES)}"
            )
        if upper in TOKEN_CODES:
            return (
                f"the portal {host} rejected the webhook's token on {method} ({said}); make a new "
                "inbound webhook and pull with it"
            )
        if upper == "ACCESS_DENIED":
            return (
                f"the portal {host} denied {method} ({said}); the bizproc lists need a webhook "
                "of an administrator, and REST needs a commercial plan"
            )
        if upper in RETRIED_CODES:
            return (
                f"the portal {host} still throttles {method} after {self.retry.tries} tries "
                f"({said}); try again later"
            )
        return f"the portal {host} refused {method} ({said})"


_LIBRARY_LOG = logging.getLogger("fast_bitrix24")


class _RedactingFilter(logging.Filter):
    """The client library logs whole answers at debug level: a download URL there is redacted."""

    def __init__(self, webhook: Webhook) -> None:
        super().__init__()
        self.webhook = webhook

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.webhook.redact(record.getMessage()), None
        return True


def _as_map(value: Any) -> Mapping[str, Any]:
    """A batch answer's map: empty ones come as `[]`, index-keyed ones as a list."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    return {}


def _batch_error(body: Mapping[str, Any]) -> tuple[str, str] | None:
    inner = body.get("result")
    if not isinstance(inner, Mapping) or "result_error" not in inner:
        return None
    for failure in _as_map(inner["result_error"]).values():
        if isinstance(failure, Mapping):
            found = error_of(failure)
            if found is not None:
                return found
    return None
