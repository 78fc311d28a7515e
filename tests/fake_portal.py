"""A local Bitrix24 portal for the pull's tests: a real HTTP server on 127.0.0.1.

It serves the records of the shipped example snapshot (`portal/examples/snapshot`), so the tests
hold one picture of a portal: a pull of it writes the example again. It answers in the documented
shapes with the quirks real portals show (the example's numbers as strings or ints, `result.items`
beside a bare `result`, mixed offsets, locale dates; empty batch maps as `[]`; a Drive download
URL that carries the webhook's token; `operating_reset_at` as a date on `crm.activity.list`),
pages 50 rows at a time, and misbehaves on request: `QUERY_LIMIT_EXCEEDED` on every n-th call
(with HTTP 503 or 200), an HTML 503 on every m-th, a token that expires after k calls, a
documented error body or an HTML page for a method.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from portal import BIZPROC_PROVIDERS
from portal.targets import records

ERRORS_JSON = Path(__file__).with_name("data") / "bitrix_errors.json"
EXAMPLE = Path(__file__).parent.parent / "portal" / "examples" / "snapshot"
PAGE = 50
PORTAL_ZONE = timezone(timedelta(hours=3))


def timing(clock: str, method: str) -> dict[str, Any]:
    """An answer's `time`, the portal's clock at `clock`; crm.activity.list's documented
    example gives `operating_reset_at` as a date, the others as a Unix time."""
    at = datetime.fromisoformat(clock).astimezone(PORTAL_ZONE)
    reset = at + timedelta(minutes=10)
    return {
        "start": at.timestamp(),
        "finish": at.timestamp() + 0.025,
        "duration": 0.025,
        "processing": 0.002,
        "date_start": at.isoformat(),
        "date_finish": at.isoformat(),
        "operating_reset_at": (
            reset.isoformat() if method == "crm.activity.list" else int(reset.timestamp())
        ),
        "operating": 0,
    }


_PATH = re.compile(r"^/rest/(?P<user>\d+)/(?P<token>[^/]+)/(?P<method>[\w.]+?)(?:\.json)?/?$")
_KEY = re.compile(r"^(?P<name>[^\[]+)(?P<rest>(?:\[[^\]]*\])*)$")


def documented_errors() -> list[tuple[int, dict[str, Any]]]:
    """Every documented error body with its HTTP status (400 where none is documented)."""
    rows = json.loads(ERRORS_JSON.read_text(encoding="utf-8"))["errors"]
    return [(int(row.get("http_status") or 400), row["body"]) for row in rows]


def php_params(query: str) -> dict[str, Any]:
    """A PHP-style query string (`filter[>=id]=5&select[0]=*`) as nested values, as PHP reads it."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            continue
        names = [match["name"], *re.findall(r"\[([^\]]*)\]", match["rest"])]
        node = root
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = value
    parsed: dict[str, Any] = _lists(root)
    return parsed


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        value = {key: _lists(item) for key, item in value.items()}
        if value and list(value) == [str(i) for i in range(len(value))]:
            return list(value.values())
    return value


def example_data(padding_deals: int = 0) -> dict[str, Any]:
    """The shipped example snapshot's records, by what a request asks for: the portal the
    example shows (deals, leads, a smart process, a Feed list, a Drive storage), served again.

    `padding_deals` adds deals after the example's (ids from 1001, created before the pull and
    never changed) for tests that need lists longer than a page.
    """
    manifest = json.loads((EXAMPLE / "manifest.json").read_text(encoding="utf-8"))
    data: dict[str, Any] = {
        "templates": [],
        "instances": [],
        "tasks": [],
        "items": {},
        "history": {},
        "activities": {provider: [] for provider in BIZPROC_PROVIDERS},
        "lists": {},
        "elements": {},
        "children": {},
        "versions": {},
        "clock": manifest["pulled_at"],
    }
    for request in manifest["requests"]:
        method, params = request["method"], request["params"]
        rows = [
            row
            for line in (EXAMPLE / request["file"]).read_text(encoding="utf-8").splitlines()
            for row in records(json.loads(line))
        ]
        number = {"id": params.get("id"), "IBLOCK_ID": params.get("IBLOCK_ID")}
        if method in _WHOLE:
            data[_WHOLE[method]].extend(rows)
        elif method in _BY_TYPE:
            data[_BY_TYPE[method]][int(params["entityTypeId"])] = rows
        elif method == "crm.activity.list":
            for row in rows:
                data["activities"][row["PROVIDER_ID"]].append(row)
        elif method == "lists.get":
            data["lists"][params["IBLOCK_TYPE_ID"]] = rows
        elif method == "lists.element.get":
            data["elements"][int(number["IBLOCK_ID"])] = rows
        elif method in {"disk.storage.getchildren", "disk.folder.getchildren"}:
            data["children"][int(number["id"])] = rows
        elif method == "disk.file.getVersions":
            data["versions"][int(number["id"])] = rows
    data["items"][2] = data["items"][2] + [
        {"id": 1000 + n, "createdTime": "2026-03-01T09:00:00+03:00",
         "updatedTime": "2026-03-01T09:00:00+03:00", "createdBy": 7, "title": f"Deal #{n}",
         "stageId": "NEW", "categoryId": 0}
        for n in range(1, padding_deals + 1)
    ]  # fmt: skip
    return data


_WHOLE = {
    "bizproc.workflow.template.list": "templates",
    "bizproc.workflow.instances": "instances",
    "bizproc.task.list": "tasks",
}
_BY_TYPE = {"crm.item.list": "items", "crm.stagehistory.list": "history"}


@dataclass
class FakePortal:
    """The server and what it was asked; `url` is the webhook of the token it accepts now."""

    data: dict[str, Any] = field(default_factory=example_data)
    token: str = "k3yS3cr3tT0ken9x"
    throttle_every: int = 0
    unavailable_every: int = 0
    expire_after: int = 0
    fail: tuple[int, dict[str, Any]] | None = None
    fail_method: str | None = None
    html_method: str | None = None
    fail_in_batch: dict[str, Any] | None = None
    delay_s: float = 0.0
    calls: int = 0
    throttled: int = 0
    unavailable: int = 0
    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._expired: set[str] = set()
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body, kind = portal.answer(self.path, raw)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: a request line carries the token."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/rest/1/{self.token}/"

    def renew_token(self, token: str) -> None:
        """A new webhook token: the old one is refused as expired from now on."""
        with self._lock:
            self._expired.add(self.token)
            self.token = token
            self.expire_after = 0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, raw: bytes) -> tuple[int, Any, str]:
        match = _PATH.match(path)
        if match is None:
            return 404, b"<html>Not found</html>", "text/html"
        method = match["method"].lower()
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            params = php_params(raw.decode())
        with self._lock:
            self.calls += 1
            call = self.calls
            self.asked.append((method, params))
            if match["token"] != self.token or match["token"] in self._expired:
                if match["token"] in self._expired:
                    return (
                        401,
                        _error("expired_token", "The access token provided has expired."),
                        _JSON,
                    )
                return 401, _error("invalid_token", "Unable to get application by token"), _JSON
            if self.expire_after and call > self.expire_after:
                self._expired.add(self.token)
                return 401, _error("expired_token", "The access token provided has expired."), _JSON
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.throttle_every and call % self.throttle_every == 0:
            self.throttled += 1
            status = 503 if call % (2 * self.throttle_every) else 200
            return status, _error("QUERY_LIMIT_EXCEEDED", "Too many requests"), _JSON
        if self.unavailable_every and call % self.unavailable_every == 0:
            self.unavailable += 1
            return (
                503,
                b"<html><body>503 Service Temporarily Unavailable</body></html>",
                "text/html",
            )
        if self.fail is not None and self.fail_method in {None, method}:
            return self.fail[0], self.fail[1], _JSON
        if self.html_method in {method, "*"}:
            return 200, b"<!DOCTYPE html><html><body>Authorization</body></html>", "text/html"
        if method == "batch":
            return 200, self._batch(params), _JSON
        body = self.page(method, params, webhook=self.url)
        return (200, body, _JSON) if "error" not in body else (400, body, _JSON)

    def _batch(self, params: Mapping[str, Any]) -> dict[str, Any]:
        names = ("result", "result_error", "result_total", "result_next", "result_time")
        maps: dict[str, dict[str, Any]] = {name: {} for name in names}
        for name, command in dict(params.get("cmd") or {}).items():
            method, _, query = str(command).partition("?")
            body = self.fail_in_batch or self.page(
                method.lower(), php_params(query), webhook=self.url
            )
            if "error" in body:
                maps["result_error"][name] = body
                continue
            maps["result"][name] = body["result"]
            for key in ("total", "next", "time"):
                if key in body:
                    maps[f"result_{key}"][name] = body[key]
        # A real portal gives an empty map as a JSON array.
        return {
            "result": {key: value or [] for key, value in maps.items()},
            "time": timing(self.data["clock"], "batch"),
        }

    def rows(self, method: str, params: Mapping[str, Any]) -> tuple[list[Any], bool] | None:
        """The whole list a request pages through, and whether it is wrapped in `result.items`."""
        data = self.data

        def number(key: str) -> int:
            return int(str(params.get(key) or 0))

        filters = params.get("filter") or {}
        lists: dict[str, tuple[list[Any], bool] | None] = {
            "bizproc.workflow.template.list": (data["templates"], False),
            "bizproc.workflow.instances": (data["instances"], False),
            "bizproc.task.list": (data["tasks"], False),
        }
        if method in lists:
            return lists[method]
        if method == "crm.item.list":
            found = data["items"].get(number("entityTypeId"))
            return None if found is None else (found, True)
        if method == "crm.stagehistory.list":
            found = data["history"].get(number("entityTypeId"))
            return None if found is None else (found, True)
        if method == "crm.activity.list":
            provider = filters.get("PROVIDER_ID") if isinstance(filters, dict) else None
            return data["activities"].get(provider, []), False
        if method == "lists.get":
            return data["lists"].get(params.get("IBLOCK_TYPE_ID"), []), False
        if method == "lists.element.get":
            found = data["elements"].get(number("IBLOCK_ID"))
            return None if found is None else (found, False)
        if method in {"disk.storage.getchildren", "disk.folder.getchildren"}:
            found = data["children"].get(number("id"))
            return None if found is None else (found, False)
        if method == "disk.file.getversions":
            found = data["versions"].get(number("id"))
            return None if found is None else (found, False)
        return None

    def page(self, method: str, params: Mapping[str, Any], *, webhook: str) -> dict[str, Any]:
        """One page's body, as `rows` pages it: `result`, `next` while more, `total`, `time`."""
        found = self.rows(method, params)
        if found is None:
            return _error("ERROR_ARGUMENT", "Invalid value of parameter {Parameter #0}")
        rows, wrapped = found
        rows = _since(rows, params)
        start = int(str(params.get("start") or 0))
        chunk = [_fill(row, webhook) for row in rows[start : start + PAGE]]
        body: dict[str, Any] = {"result": {"items": chunk} if wrapped else chunk}
        if start + PAGE < len(rows):
            body["next"] = start + PAGE
        body["total"] = len(rows)
        body["time"] = timing(self.data["clock"], method)
        return body

    def pages(self, method: str, params: Mapping[str, Any], *, webhook: str) -> Iterator[Any]:
        """Every page of a request, as served with `webhook` in its download URLs."""
        start = 0
        while True:
            body = self.page(method.lower(), {**params, "start": start}, webhook=webhook)
            yield body
            if "next" not in body:
                return
            start = body["next"]


_JSON = "application/json; charset=utf-8"


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description}


def _since(rows: list[Any], params: Mapping[str, Any]) -> list[Any]:
    """The rows a `>=FIELD` filter (`filter`, or `FILTER` for lists) keeps, times compared as
    times; a value in the portal's locale format is kept, as if the portal read it so."""
    for key in ("filter", "FILTER"):
        conditions = params.get(key)
        if not isinstance(conditions, Mapping):
            continue
        for name, bound in conditions.items():
            if name.startswith(">="):
                rows = [row for row in rows if _not_before(row.get(name[2:]), bound)]
    return rows


def _not_before(value: Any, bound: Any) -> bool:
    try:
        return datetime.fromisoformat(str(value)) >= datetime.fromisoformat(str(bound))
    except ValueError:
        return True


def _fill(row: Any, webhook: str) -> Any:
    """The row as the portal sends it: a Drive download URL carries the webhook's token."""
    token = webhook.rstrip("/").rsplit("/", 1)[-1]
    if isinstance(row, dict) and "DOWNLOAD_URL" in row:
        return {**row, "DOWNLOAD_URL": row["DOWNLOAD_URL"].replace("auth=***", f"auth={token}")}
    return row
