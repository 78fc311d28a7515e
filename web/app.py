"""The web view's aiohttp application: read-only pages on a store, mountable in the collector."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web
from eventsourcing.application import AggregateNotFoundError

from domain.application import AutostartApplication
from domain.stores import StoreAddress
from portal.explain import attach, element_audit
from portal.observations import PortalAudit
from portal.verdicts import VERDICTS
from projections.database import ReadDatabase
from projections.explain import Query, UnknownElementError, explain, nearest
from projections.queries import DECISION_COLUMNS, DECISION_SCHEMA, decision_rows
from projections.runner import catch_up
from projections.suggestions import attach_fixes
from simulations.cli.common import UsageError, require_extra
from simulations.cli.export import write_rows
from simulations.render import check_marks, configured, value_text
from simulations.replay import open_store
from simulations.suggest import render_fixes
from web.access import Access
from web.filters import FILTER_KEYS, BadFilterError, as_of, parse_filters, parse_time
from web.reads import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    decisions_page,
    overview,
    template_decisions,
    template_history,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


STORE = web.AppKey("web_store", StoreAddress)
ROOT = web.AppKey("web_root", str)
STATE = web.AppKey("web_state", dict)
TEMPLATES = web.AppKey("web_templates", jinja2.Environment)


def page_templates() -> jinja2.Environment:
    """The pages' Jinja2 templates, with the filters and globals they use."""
    # Autoescape everything: titles, field values and names come from traffic and portals.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=True,
    )
    environment.globals["check_marks"] = check_marks
    environment.globals["configured"] = configured
    environment.globals["fix_lines"] = render_fixes
    environment.globals["zip"] = zip
    environment.globals["link"] = _link
    environment.filters["value"] = value_text
    return environment


@jinja2.pass_context
def _link(context: jinja2.runtime.Context, path: str) -> str:
    """A path under the app's root that keeps the page's ?at= (links answer as of it too)."""
    at = context["at"]
    if not at:
        return f"{context['root']}{path}"
    return f"{context['root']}{path}{'&' if '?' in path else '?'}at={quote(at)}"


def web_app(store: StoreAddress, access: Access | None = None, root: str = "") -> web.Application:
    """The pages for `store`; `root` is the path the app is mounted under ("" on its own)."""
    app = web.Application(middlewares=[_guard(access or Access()), _bad_filters])
    app[STORE] = store
    app[ROOT] = root
    app[TEMPLATES] = page_templates()
    app[STATE] = {}
    app.on_startup.append(_open)
    app.on_cleanup.append(_close)
    app.router.add_get("/", home)
    app.router.add_get("/search", search)
    app.router.add_get("/elements/{element}", element_page)
    app.router.add_get("/templates/{template:[0-9]+}", template_page)
    app.router.add_get("/decisions", decisions)
    app.router.add_get("/decisions.{format:csv|parquet}", download)
    app.router.add_get("/verdicts", verdicts)
    return app


def mount(
    parent: web.Application, store: StoreAddress, access: Access, prefix: str = "/view"
) -> None:
    """Adds the pages to another application (the collector's) under `prefix`."""
    parent.add_subapp(prefix, web_app(store, access, root=prefix))


async def _open(app: web.Application) -> None:
    # One connection each, used only from the event loop's thread; the read models are caught
    # up once, as `why` does, then read as they are.
    events = open_store(app[STORE])
    db = ReadDatabase(app[STORE])
    catch_up(events, db)
    app[STATE].update(events=events, db=db)


async def _close(app: web.Application) -> None:
    app[STATE]["db"].close()
    app[STATE]["events"].close()


def _guard(access: Access) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not access.allows(request):
            return web.Response(
                status=401,
                text="401: give the token (Authorization: Bearer) or the user and password\n",
                headers={"WWW-Authenticate": 'Basic realm="autostart"'},
            )
        return await handler(request)

    return guard


@web.middleware
async def _bad_filters(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadFilterError as error:
        return _render(request, "error.html", {"message": str(error)}, status=400)


def _render(
    request: web.Request, name: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    template = request.app[TEMPLATES].get_template(name)
    at = request.query.get("at", "")
    page = template.render(root=request.app[ROOT], at=at, query=request.query, **context)
    return web.Response(text=page, status=status, content_type="text/html")


def _db(request: web.Request) -> ReadDatabase:
    db: ReadDatabase = request.app[STATE]["db"]
    return db


def _events(request: web.Request) -> AutostartApplication:
    events: AutostartApplication = request.app[STATE]["events"]
    return events


def _at(request: web.Request) -> datetime | None:
    text = request.query.get("at", "").strip()
    return parse_time(text, "at") if text else None


def _audit_summary(request: web.Request) -> dict[str, Any] | None:
    try:
        audit: PortalAudit = _events(request).repository.get(PortalAudit.create_id())
    except AggregateNotFoundError:
        return None
    return audit.summary


def _all_verdicts(request: web.Request) -> list[dict[str, Any]]:
    """Every verdict of the audit, anomalies first, read once from the elements' audits.

    The audit keeps its verdicts per element (ElementAudit), not in one table: the first call
    reads one aggregate per audited element and keeps the list, which an audit never changes.
    """
    state = request.app[STATE]
    if "verdicts" not in state:
        rows: list[dict[str, Any]] = []
        for row in _db(request).stream("SELECT element FROM elements ORDER BY element"):
            audit = element_audit(_events(request), row["element"])
            if audit is not None:
                rows.extend(dict(v, element=row["element"]) for v in audit["verdicts"])
        state["verdicts"] = sorted(rows, key=lambda v: VERDICTS.index(v["verdict"]))
    verdicts: list[dict[str, Any]] = state["verdicts"]
    return verdicts


def _as_of(rows: list[dict[str, Any]], at: datetime | None) -> list[dict[str, Any]]:
    if at is None:
        return rows
    return [v for v in rows if datetime.fromisoformat(v["at"]) <= at]


async def home(request: web.Request) -> web.Response:
    at = _at(request)
    audit = _audit_summary(request)
    counts: dict[str, int] = {}
    anomalies: list[dict[str, Any]] = []
    if audit is not None:
        counts = audit["counts"]
        anomalies = audit["anomalies"]
        if at is not None:  # as of a time: count only the verdicts on changes made by then
            verdicts = _as_of(_all_verdicts(request), at)
            counts = {v: sum(1 for row in verdicts if row["verdict"] == v) for v in VERDICTS}
            anomalies = _as_of(anomalies, at)
    context = {
        "glance": overview(_db(request), at),
        "audit": audit,
        "verdict_counts": counts,
        "anomalies": anomalies[:20],
    }
    return _render(request, "home.html", context)


async def search(request: web.Request) -> web.StreamResponse:
    wanted = request.query.get("element", "").strip()
    db = _db(request)
    found = db.query("SELECT element FROM elements WHERE element = ?", (wanted,)) if wanted else []
    if found:
        suffix = f"?at={quote(request.query['at'])}" if request.query.get("at") else ""
        raise web.HTTPFound(f"{request.app[ROOT]}/elements/{wanted}{suffix}")
    context: dict[str, Any] = {
        "wanted": wanted,
        "suggestions": nearest(db, wanted, 10) if wanted else [],
    }
    return _render(request, "search.html", context, status=404 if wanted else 200)


async def element_page(request: web.Request) -> web.Response:
    element = request.match_info["element"]
    at = _at(request)
    db = _db(request)
    template = request.query.get("template", "").strip()
    if template and not template.isdigit():
        raise BadFilterError(f"template {template!r}: expected a template id")
    try:
        explanation = explain(db, Query(element, at, int(template) if template else None))
        attach_fixes(db, explanation)
    except UnknownElementError as error:
        missing = {"wanted": element, "suggestions": error.suggestions}
        return _render(request, "search.html", missing, status=404)
    audit = element_audit(_events(request), element)
    if audit is not None:
        if at is not None:  # as of a time: only the verdicts on changes made by then
            audit = dict(audit, verdicts=_as_of(audit["verdicts"], at))
        attach(explanation, audit)
    processes = db.query(
        "SELECT process, template, status, queued_at, started_at, ended_at, end_reason "
        "FROM processes WHERE element = ? ORDER BY decision",
        (element,),
    )
    timeline = _timeline(explanation, processes, at)
    context: dict[str, Any] = {"e": explanation, "timeline": timeline}
    return _render(request, "element.html", context)


def _timeline(
    explanation: dict[str, Any], processes: list[dict[str, Any]], at: datetime | None
) -> list[dict[str, Any]]:
    """Changes, decisions and process events of one element in time order."""
    entries: list[dict[str, Any]] = []
    for change in explanation["changes"]:
        outcomes = [f"{d['template']}: {d['outcome']} {d['reason']}" for d in change["decisions"]]
        entries.append(
            {
                "at": change["at"],
                "what": f"#{change['revision']} {change['op']} via {change['channel'] or '-'}",
                "detail": "; ".join(outcomes),
            }
        )
    for process in processes:
        for key, label in (("started_at", "started"), ("ended_at", "ended")):
            if process[key] is None:
                continue
            if at is not None and datetime.fromisoformat(process[key]) > at:
                continue
            end = (
                f" ({process['end_reason']})" if key == "ended_at" and process["end_reason"] else ""
            )
            entries.append(
                {
                    "at": process[key],
                    "what": f"process {process['process']} {label}{end}",
                    "detail": f"template {process['template']}",
                }
            )
    return sorted(entries, key=lambda e: datetime.fromisoformat(e["at"]))


async def template_page(request: web.Request) -> web.Response:
    template = int(request.match_info["template"])
    at = _at(request)
    db = _db(request)
    history = template_history(db, template, at)
    if not history:
        return _render(request, "error.html", {"message": f"no template {template}"}, status=404)
    context = {
        "template": template,
        "history": history,
        "by": template_decisions(db, template, at),
    }
    return _render(request, "template.html", context)


async def decisions(request: web.Request) -> web.Response:
    filters = as_of(parse_filters(request.query), _at(request))
    after, size = request.query.get("after", "0"), request.query.get("size", str(PAGE_SIZE))
    if not after.isdigit():
        raise BadFilterError(f"after {after!r}: expected a decision id")
    if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
        raise BadFilterError(f"size {size!r}: expected 1 to {MAX_PAGE_SIZE} rows a page")
    rows, next_after = decisions_page(_db(request), filters, int(after), int(size))
    kept = {k: request.query[k] for k in (*FILTER_KEYS, "at", "size") if request.query.get(k)}
    context = {"rows": rows, "next_after": next_after, "kept": kept, "columns": DECISION_COLUMNS}
    return _render(request, "decisions.html", context)


async def download(request: web.Request) -> web.StreamResponse:
    """Every decision the filters select (all pages), streamed from a spooled file."""
    filters = as_of(parse_filters(request.query), _at(request))
    fmt = request.match_info["format"]
    if fmt == "parquet":
        try:
            require_extra("parquet", "pyarrow")
        except UsageError as error:
            raise BadFilterError(str(error)) from None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv" if fmt == "csv" else "application/vnd.apache.parquet",
            "Content-Disposition": f'attachment; filename="decisions.{fmt}"',
        }
    )
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        write_rows(decision_rows(_db(request), filters), DECISION_SCHEMA, fmt, spool)
        spool.seek(0)
        await response.prepare(request)
        while chunk := spool.read(256 * 1024):
            await response.write(chunk)
    await response.write_eof()
    return response


async def verdicts(request: web.Request) -> web.Response:
    audit = _audit_summary(request)
    rows = _as_of(_all_verdicts(request), _at(request)) if audit else []
    wanted = {
        k: request.query.get(k, "").strip() for k in ("verdict", "element", "template", "channel")
    }
    wanted = {k: v for k, v in wanted.items() if v}
    if "verdict" in wanted and wanted["verdict"] not in VERDICTS:
        raise BadFilterError(
            f"verdict {wanted['verdict']!r}: expected one of {', '.join(VERDICTS)}"
        )
    parse_filters({k: v for k, v in wanted.items() if k != "verdict"})  # same errors
    rows = [r for r in rows if all(str(r[k]) == v for k, v in wanted.items())]
    page = request.query.get("page", "1")
    if not page.isdigit() or int(page) < 1:
        raise BadFilterError(f"page {page!r}: expected a page number from 1")
    start = (int(page) - 1) * 50
    context = {
        "audit": audit,
        "rows": rows[start : start + 50],
        "total": len(rows),
        "page": int(page),
        "more": start + 50 < len(rows),
    }
    return _render(request, "verdicts.html", context)
