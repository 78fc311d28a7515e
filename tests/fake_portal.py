"""A local Bitrix24 portal for the pull's tests: a real HTTP server on 127.0.0.1.

It serves the documented shapes with the quirks real portals show (numbers as strings or ints,
`result.items` beside a bare `result`, mixed offsets, locale dates, `DOCUMENT_TYPE` as a string or
a 3-array, empty batch maps as `[]`, a Drive download URL that carries the webhook's path), pages
50 rows at a time, and misbehaves on request: `QUERY_LIMIT_EXCEEDED` on every n-th call (with HTTP
503 or 200), an HTML 503 on every m-th, a token that expires after k calls, a documented error
body or an HTML page for a method.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ERRORS_JSON = Path(__file__).with_name("data") / "bitrix_errors.json"
PAGE = 50
TIME = {
    "start": 1737535822.539526,
    "finish": 1737535822.564579,
    "duration": 0.025053024291992188,
    "processing": 0.001973867416381836,
    "date_start": "2025-01-22T11:50:22+02:00",
    "date_finish": "2025-01-22T11:50:22+02:00",
    "operating_reset_at": 1737536422,
    "operating": 0,
}
# crm.activity.list's documented example gives operating_reset_at as a datetime string.
DYNAMIC = "Bitrix\\Crm\\Integration\\BizProc\\Document\\Dynamic"
ACTIVITY_TIME = {**TIME, "operating_reset_at": "2025-01-22T12:00:22+02:00"}
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


def _stamp(day: int, minute: int, offset: str = "+03:00") -> str:
    return f"2026-03-{day:02d}T09:{minute:02d}:00{offset}"


def example_data(host: str) -> dict[str, Any]:
    """A small portal: deals, leads, a smart process, a Feed list and a Drive storage."""
    templates = [
        {"ID": "212", "MODULE_ID": "crm", "ENTITY": "CCrmDocumentDeal",
         "DOCUMENT_TYPE": ["crm", "CCrmDocumentDeal", "DEAL"], "AUTO_EXECUTE": "1",
         "NAME": "New deal onboarding", "PARAMETERS": [], "CONSTANTS": [],
         "MODIFIED": "2024-09-13T10:25:01+00:00", "IS_MODIFIED": "N", "USER_ID": "1"},
        {"ID": "213", "MODULE_ID": "crm", "ENTITY": "CCrmDocumentDeal", "DOCUMENT_TYPE": "DEAL",
         "AUTO_EXECUTE": "2", "NAME": "Discount approval", "PARAMETERS": [], "CONSTANTS": [],
         "MODIFIED": "2024-09-14T10:25:01+03:00", "IS_MODIFIED": "Y", "USER_ID": "1"},
        {"ID": "1", "ENTITY": "CCrmDocumentLead", "DOCUMENT_TYPE": [None, None, "LEAD"],
         "AUTO_EXECUTE": "1", "NAME": "Lead qualification"},
        {"ID": "301", "MODULE_ID": "crm", "ENTITY": DYNAMIC,
         "DOCUMENT_TYPE": ["crm", DYNAMIC, "DYNAMIC_147"], "AUTO_EXECUTE": "3",
         "NAME": "Contract check"},
        {"ID": "565", "MODULE_ID": "lists", "ENTITY": "BizprocDocument",
         "DOCUMENT_TYPE": ["lists", "BizprocDocument", "iblock_47"], "AUTO_EXECUTE": "1",
         "NAME": "Event Organization", "PARAMETERS": {"Budget": {"Type": "int", "Required": "1"}}},
        {"ID": "701", "MODULE_ID": "disk", "ENTITY": "Bitrix\\Disk\\BizProcDocument",
         "DOCUMENT_TYPE": ["disk", "Bitrix\\Disk\\BizProcDocument", "STORAGE_1357"],
         "AUTO_EXECUTE": "3", "NAME": "Contract review"},
    ]  # fmt: skip
    instances = [
        {"DOCUMENT_ID": "LEAD_1", "ENTITY": "CCrmDocumentLead", "ID": "66e412fdc9bd44.36306599",
         "STARTED": "2024-09-13T10:25:01+00:00", "MODULE_ID": "crm", "TEMPLATE_ID": "1",
         "STARTED_BY": "0"},
        {"DOCUMENT_ID": "DEAL_1633", "ENTITY": "CCrmDocumentDeal",
         "ID": "658c4d3d6a2906.51542462", "STARTED": "2023-12-27T19:13:49+02:00",
         "MODULE_ID": "crm", "TEMPLATE_ID": "212", "STARTED_BY": "57"},
        {"DOCUMENT_ID": "DYNAMIC_147_1", "ENTITY": DYNAMIC,
         "ID": "67a2ffdb2c57a3.00000001", "STARTED": "2026-03-02T09:01:00+03:00",
         "MODULE_ID": "crm", "TEMPLATE_ID": "9999", "STARTED_BY": "1"},
    ]  # fmt: skip
    tasks = [
        {"ENTITY": "BizprocDocument", "DOCUMENT_ID": "2249", "ID": "1477",
         "WORKFLOW_ID": "67a2ffdb2c57a3.35276854", "NAME": "Add Contractor Information",
         "MODIFIED": "2025-02-05T09:06:19+02:00", "WORKFLOW_STARTED": "2025-02-05T09:06:19+02:00",
         "WORKFLOW_STARTED_BY": "1", "WORKFLOW_TEMPLATE_ID": "565", "STATUS": "0",
         "MODULE_ID": "lists",
         "DOCUMENT_URL": "/bizproc/processes/?livefeed=y&list_id=47&element_id=2249"},
    ]  # fmt: skip
    deals = [
        {"id": n, "title": f"Deal #{n}", "stageId": "NEW" if n % 3 else "WON",
         "createdTime": _stamp(1 + n % 28, n % 60, "+03:00" if n % 2 else "+02:00"),
         "updatedTime": _stamp(1 + n % 28, n % 60), "createdBy": 1, "sourceId": "WEB",
         "opportunity": 1000 + n, "entityTypeId": 2}
        for n in range(1, 121)
    ]  # fmt: skip
    leads = [
        {"id": n, "title": f"Lead #{n}", "stageId": "NEW", "createdTime": _stamp(2, n),
         "updatedTime": _stamp(2, n), "createdBy": 0 if n == 3 else 1,
         "webformId": 4 if n == 3 else 0,
         "entityTypeId": 1}
        for n in range(1, 8)
    ]  # fmt: skip
    contracts = [
        {"id": n, "title": f"Contract {n}", "createdTime": _stamp(3, n), "entityTypeId": 147,
         "ufCrm11_1712074666": f"{n}"}
        for n in range(1, 4)
    ]  # fmt: skip
    deal_history = [  # the real captures give every value as a string
        {"ID": str(n), "TYPE_ID": "1" if n <= 40 else "2",
         "OWNER_ID": str(n if n <= 40 else n - 40),
         "CREATED_TIME": _stamp(1 + n % 28, n % 60), "CATEGORY_ID": "0",
         "STAGE_SEMANTIC_ID": "P", "STAGE_ID": "NEW"}
        for n in range(1, 61)
    ]  # fmt: skip
    lead_history = [  # the documented example gives ints
        {"ID": n, "TYPE_ID": 1, "OWNER_ID": n, "CREATED_TIME": "2024-04-25T14:59:11+00:00",
         "STATUS_SEMANTIC_ID": "P", "STATUS_ID": "NEW"}
        for n in range(1, 8)
    ]  # fmt: skip
    activities = {
        "CRM_BIZPROC_TASK": [
            {"ID": "9001", "OWNER_ID": "1633", "OWNER_TYPE_ID": "2",
             "PROVIDER_ID": "CRM_BIZPROC_TASK",
             "PROVIDER_TYPE_ID": "BIZPROC_TASK", "ASSOCIATED_ENTITY_ID": "1477",
             "ORIGIN_ID": "658c4d3d6a2906.51542462", "SUBJECT": "Approve discount",
             "CREATED": "2023-12-27T19:13:50+02:00", "COMPLETED": "N",
             "SETTINGS": {"TASK_ID": 1477, "TASK_NAME": "Approve discount", "STATUS": "running"}},
        ],
        "CRM_BIZPROC_WORKFLOW": [
            {"ID": "9002", "OWNER_ID": "5", "OWNER_TYPE_ID": "2",
             "PROVIDER_ID": "CRM_BIZPROC_WORKFLOW",
             "ORIGIN_ID": "65aa0000000000.00000005", "CREATED": "2026-03-05T09:05:00+03:00",
             "SETTINGS": {"WORKFLOW_TEMPLATE_ID": 212, "WORKFLOW_STATUS": "Completed"}},
        ],
        "CRM_BIZPROC_COMMENT": [],
    }  # fmt: skip
    lists = {
        "bitrix_processes": [{"ID": "47", "IBLOCK_TYPE_ID": "bitrix_processes", "NAME": "Events",
                              "BIZPROC": "Y", "TIMESTAMP_X": "05/17/2023 04:09:23 pm"}],
        "lists": [],
    }  # fmt: skip
    elements = [
        {"ID": "2249", "NAME": "Partner Conference", "CREATED_BY": "1269",
         "DATE_CREATE": "02/05/2025 09:06:19 am", "PROPERTY_951": {"3743": "1269", "3745": "1271"},
         "PROPERTY_1003": {"3747": "12/31/2024 11:59:59 pm"}},
        {"ID": "2250", "NAME": "Board meeting", "CREATED_BY": "1", "DATE_CREATE": ""},
    ]  # fmt: skip
    children = {
        1357: [{"ID": "8996", "NAME": "Contracts", "TYPE": "folder", "STORAGE_ID": "1357"},
               {"ID": "9050", "NAME": "Plan.xlsx", "TYPE": "file", "STORAGE_ID": "1357",
                "CREATE_TIME": "2026-03-02T10:00:00+03:00"}],
        8996: [{"ID": "9043", "NAME": "Test.docx", "TYPE": "file", "STORAGE_ID": "1357",
                "PARENT_ID": "8996", "CREATE_TIME": "2026-02-16T12:52:05+02:00",
                "GLOBAL_CONTENT_VERSION": "2"}],
    }  # fmt: skip
    versions = {
        9043: [
            {"ID": "7201", "OBJECT_ID": "9043", "GLOBAL_CONTENT_VERSION": "5",
             "CREATE_TIME": "2026-02-17T12:21:22+02:00", "CREATED_BY": "1271",
             "DOWNLOAD_URL": "{webhook}download/?token=disk%7CaWQ9NzIwMSZzZXJ2aWNl"},
            {"ID": "7199", "OBJECT_ID": "9043", "GLOBAL_CONTENT_VERSION": "3",
             "CREATE_TIME": "2026-02-17T12:15:06+02:00", "CREATED_BY": "1269",
             "DOWNLOAD_URL": "{webhook}download/?token=disk%7CaWQ9NzE5OSZzZXJ2aWNl"},
        ],
        9050: [],
    }  # fmt: skip
    return {
        "host": host,
        "templates": templates,
        "instances": instances,
        "tasks": tasks,
        "items": {1: leads, 2: deals, 147: contracts},
        "history": {1: lead_history, 2: deal_history, 147: []},
        "activities": activities,
        "lists": lists,
        "elements": {47: elements},
        "children": children,
        "versions": versions,
    }


@dataclass
class FakePortal:
    """The server and what it was asked; `url` is the webhook of the token it accepts now."""

    data: dict[str, Any] = field(default_factory=lambda: example_data("127.0.0.1"))
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
        return {"result": {key: value or [] for key, value in maps.items()}, "time": TIME}

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
            return data["lists"].get(params.get("IBLOCK_TYPE_ID")), False
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
        start = int(str(params.get("start") or 0))
        chunk = [_fill(row, webhook) for row in rows[start : start + PAGE]]
        body: dict[str, Any] = {"result": {"items": chunk} if wrapped else chunk}
        if start + PAGE < len(rows):
            body["next"] = start + PAGE
        body["total"] = len(rows)
        body["time"] = ACTIVITY_TIME if method == "crm.activity.list" else TIME
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


def _fill(row: Any, webhook: str) -> Any:
    if isinstance(row, dict) and "DOWNLOAD_URL" in row:
        return {**row, "DOWNLOAD_URL": row["DOWNLOAD_URL"].format(webhook=webhook)}
    return row
