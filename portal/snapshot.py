"""A snapshot folder as a pull left it: the manifest and the raw pages, checked page by page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from portal.webhook import redact_json

FORMAT = "autostart-snapshot/1"
MANIFEST = "manifest.json"
# Methods whose page wraps its records in `result.items`; the others return `result` as a list.
WRAPPED = frozenset({"crm.item.list", "crm.stagehistory.list"})


class SnapshotError(Exception):
    """A snapshot refused: which file, which page, which field, what was expected."""

    def __init__(
        self, file: str, page: int | None, field: str | None, expected: str, got: Any = None
    ) -> None:
        self.file = file
        self.page = page
        self.field = field
        where = file + (f", page {page}" if page is not None else "")
        where += f", field '{field}'" if field else ""
        shown = "" if got is None else f", got {_show(got)}"
        super().__init__(f"{where}: expected {expected}{shown}")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, slots=True)
class Request:
    """One distinct request of the pull: a method with its parameters, and its file of pages."""

    method: str
    params: dict[str, Any]
    file: str
    pages: int


@dataclass(frozen=True, slots=True)
class Manifest:
    portal: str
    pulled_at: datetime
    since: datetime | None
    types: tuple[str, ...]
    requests: tuple[Request, ...]
    client: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Record:
    """One record a page held, with where it was read (for errors and for the store)."""

    request: Request
    page: int
    path: str  # e.g. result.items[3]
    data: dict[str, Any]


def read_manifest(folder: Path) -> Manifest:
    """The manifest; raises SnapshotError for an incomplete pull or a malformed manifest."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise SnapshotError(str(folder), None, None, "a snapshot folder (portal pull --out DIR)")
    if not path.is_file():
        raise SnapshotError(
            MANIFEST,
            None,
            None,
            "a manifest: without one the pull is incomplete; run `autostart portal pull` "
            "again with the same --out to resume it",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SnapshotError(MANIFEST, None, None, f"a JSON object ({error})") from None
    if not isinstance(data, dict):
        raise SnapshotError(MANIFEST, None, None, "a JSON object", data)
    if data.get("format") != FORMAT:
        raise SnapshotError(MANIFEST, None, "format", repr(FORMAT), data.get("format"))
    portal = data.get("portal")
    if not isinstance(portal, str) or not portal or "/" in portal:
        raise SnapshotError(MANIFEST, None, "portal", "the portal's host name", portal)
    pulled_at = parse_time(data.get("pulled_at"))
    if pulled_at is None:
        raise SnapshotError(MANIFEST, None, "pulled_at", "an ISO-8601 time", data.get("pulled_at"))
    since = None
    if data.get("since") is not None:
        since = parse_time(data["since"])
        if since is None:
            raise SnapshotError(MANIFEST, None, "since", "null or an ISO time", data["since"])
    types = data.get("types")
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise SnapshotError(MANIFEST, None, "types", "a list of CRM type names", types)
    client = data.get("client", {})
    if not isinstance(client, dict):
        raise SnapshotError(MANIFEST, None, "client", "an object", client)
    requests = data.get("requests")
    if not isinstance(requests, list):
        raise SnapshotError(MANIFEST, None, "requests", "a list of requests", requests)
    return Manifest(
        portal,
        pulled_at,
        since,
        tuple(types),
        tuple(_request(folder, number, entry) for number, entry in enumerate(requests)),
        client,
    )


def _request(folder: Path, number: int, entry: Any) -> Request:
    where = f"requests[{number}]"
    if not isinstance(entry, dict):
        raise SnapshotError(MANIFEST, None, where, "an object", entry)
    method, params, file, pages = (entry.get(k) for k in ("method", "params", "file", "pages"))
    if not isinstance(method, str) or not method:
        raise SnapshotError(MANIFEST, None, f"{where}.method", "a REST method name", method)
    if not isinstance(params, dict):
        raise SnapshotError(MANIFEST, None, f"{where}.params", "an object", params)
    if not isinstance(file, str) or not file.startswith("pages/") or ".." in file:
        raise SnapshotError(MANIFEST, None, f"{where}.file", "a file under pages/", file)
    if not isinstance(pages, int) or isinstance(pages, bool) or pages < 0:
        raise SnapshotError(MANIFEST, None, f"{where}.pages", "a page count", pages)
    if not (folder / file).is_file():
        raise SnapshotError(file, None, None, f"the file the manifest names in {where}")
    return Request(method, params, file, pages)


def read_records(folder: Path, request: Request) -> Iterator[Record]:
    """Every record of a request's pages; raises SnapshotError on a malformed or missing page."""
    text = (folder / request.file).read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != request.pages:
        raise SnapshotError(
            request.file,
            None,
            None,
            f"{request.pages} pages (one a line) as the manifest says",
            f"{len(lines)} lines",
        )
    for page, line in enumerate(lines, start=1):
        try:
            body = json.loads(line)
        except json.JSONDecodeError as error:
            raise SnapshotError(
                request.file, page, None, f"a whole JSON page (truncated? {error.msg})"
            ) from None
        if not isinstance(body, dict) or "result" not in body:
            raise SnapshotError(request.file, page, "result", "a page with a result", body)
        yield from _records(request, page, body["result"])


def _records(request: Request, page: int, result: Any) -> Iterator[Record]:
    prefix = "result"
    if request.method in WRAPPED and isinstance(result, dict):
        result, prefix = result.get("items"), "result.items"
    if isinstance(result, dict):  # a PHP array with keys comes back as an object
        rows: list[tuple[str, Any]] = [(f"{prefix}.{key}", row) for key, row in result.items()]
    elif isinstance(result, list):
        rows = [(f"{prefix}[{index}]", row) for index, row in enumerate(result)]
    else:
        raise SnapshotError(request.file, page, prefix, "a list of records", result)
    for path, row in rows:
        if not isinstance(row, dict):
            raise SnapshotError(request.file, page, path, "a record (an object)", row)
        # A token a pull should have redacted never goes further than this.
        yield Record(request, page, path, redact_json(row))


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time with an offset, or None."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
