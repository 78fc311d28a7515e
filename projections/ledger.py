"""The audit ledger: changes, decisions, processes, template versions and settings, as rows."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, singledispatchmethod
from operator import attrgetter, itemgetter
from typing import Any
from uuid import UUID

import orjson

from domain.compressor import EventCompressor
from domain.configs import TemplateRecord
from domain.decisions import EVENT_FIELDS
from domain.elements import Element
from domain.portal import Portal
from domain.templates import Template
from domain.vocabulary import ProcessStatus, element_name
from projections.database import ReadDatabase

_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
# What `_dumps` writes, by orjson: datetimes passed to `str` as `_dumps` does; text as UTF-8
# where `_dumps` escapes it (every reader parses these columns, none compares their bytes).
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


# A write the portal refused is a row of `changes` with its own op: its decisions follow it.
REFUSED = {"add": "create_refused", "change": "update_refused"}


def _json_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return _dumps(value).encode()


def _json(value: Any) -> str:
    return _json_bytes(value).decode()


_CHECKS = EventCompressor()


def pack_checks(checks: Any) -> bytes:
    """A decision's checks as the ledger keeps them: JSON, compressed as the events are.

    They are nine tenths of a decision's row; compressed, a tenth of what they were.
    """
    return _CHECKS.compress(_json_bytes(checks))


def read_checks(value: bytes | memoryview | str) -> list[list[Any]]:
    """The `checks` column read back: `[[rule, values], ...]` in the order checked."""
    if isinstance(value, str):
        return list(json.loads(value))
    return list(json.loads(_CHECKS.decompress(bytes(value))))


def utc(at: datetime) -> str:
    """A time as sortable UTC text, the form every `*_utc` column and filter uses."""
    return at.astimezone(UTC).isoformat()


# Many events share an instant (a round decides every template at once): convert each once.
# Only the UTC text may be cached: equal instants with other offsets compare equal.
_utc = lru_cache(maxsize=4096)(utc)
_decided = attrgetter(*EVENT_FIELDS)


# One row of a ledger table, by column name.
Row = dict[str, Any]


@dataclass
class Page:
    """The rows one page of events adds; written in one transaction with the position."""

    elements: list[Row] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)
    decisions: list[Row] = field(default_factory=list)
    templates: list[Row] = field(default_factory=list)
    settings: list[Row] = field(default_factory=list)
    halts: list[Row] = field(default_factory=list)
    new_processes: dict[str, Row] = field(default_factory=dict)
    process_updates: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def update_process(self, process: str, **values: Any) -> None:
        row = self.new_processes.get(process)
        if row is not None:
            row.update(values)
            return
        columns = ", ".join(f"{name} = ?" for name in values)
        self.process_updates.append(
            (f"UPDATE processes SET {columns} WHERE process = ?", (*values.values(), process))
        )

    def write(self, db: ReadDatabase) -> None:
        _insert(db, "elements", self.elements)
        _insert(db, "changes", self.changes)
        _insert(db, "decisions", self.decisions)
        _insert(db, "templates", self.templates)
        _insert(db, "settings", self.settings)
        _insert(db, "halts", self.halts)
        _insert(db, "processes", list(self.new_processes.values()))
        for statement, params in self.process_updates:
            db.execute(statement, params)


def _insert(db: ReadDatabase, table: str, rows: list[Row]) -> None:
    """Inserts rows by column name: every row of one table names the same columns."""
    if not rows:
        return
    columns = tuple(rows[0])
    marks = ", ".join("?" * len(columns))
    values = itemgetter(*columns)
    db.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", [values(r) for r in rows]
    )


class AuditLedger:
    """Folds the store's events into the ledger tables, one handler per event class."""

    name = "ledger"

    def __init__(self, db: ReadDatabase | None, names_cached: int = 200_000) -> None:
        self.db = db
        self.names: OrderedDict[UUID, str] = OrderedDict()
        self.names_cached = names_cached

    def element(self, stream: UUID) -> str:
        name = self.names.get(stream)
        if name is None:
            if self.db is None:
                msg = f"no name given for the element of stream {stream}"
                raise RuntimeError(msg)
            rows = self.db.query("SELECT element FROM elements WHERE stream = ?", (stream.hex,))
            name = str(rows[0]["element"])
            self.remember(stream, name)
        return name

    def remember(self, stream: UUID, name: str) -> None:
        self.names[stream] = name
        if len(self.names) > self.names_cached:
            self.names.popitem(last=False)

    @singledispatchmethod
    def fold(self, event: object, position: int, page: Page) -> None:
        """Events no read model needs (replay bookkeeping, portal opening) are ignored."""

    @fold.register
    def created(self, event: Element.Created, position: int, page: Page) -> None:
        self._new_element(page, event)
        self._change(page, position, event.name, 1, "create", event, event.fields)

    @fold.register
    def add_refused(self, event: Element.AddRefused, position: int, page: Page) -> None:
        self._new_element(page, event)
        self._change(page, position, event.name, 1, REFUSED["add"], event, event.fields)

    def _new_element(self, page: Page, event: Element.Created | Element.AddRefused) -> None:
        parsed = element_name(event.name)
        self.remember(event.originator_id, event.name)
        page.elements.append(
            {
                "stream": event.originator_id.hex,
                "element": event.name,
                "document_type": parsed.document_type.name,
                "number": parsed.id,
            }
        )

    @fold.register
    def added(self, event: Element.Added, position: int, page: Page) -> None:
        name = self.element(event.originator_id)
        self._change(page, position, name, event.revision, "create", event, event.fields)

    @fold.register
    def changed(self, event: Element.Changed, position: int, page: Page) -> None:
        name = self.element(event.originator_id)
        self._change(page, position, name, event.revision, "update", event, event.changed)

    @fold.register
    def write_refused(self, event: Element.WriteRefused, position: int, page: Page) -> None:
        name = self.element(event.originator_id)
        op = REFUSED[event.trigger]
        self._change(page, position, name, event.revision, op, event, event.changed)

    def _change(
        self,
        page: Page,
        position: int,
        name: str,
        revision: int,
        op: str,
        event: Element.Created
        | Element.AddRefused
        | Element.Added
        | Element.Changed
        | Element.WriteRefused,
        values: dict[str, Any],
    ) -> None:
        page.changes.append(
            {
                "id": position,
                "element": name,
                "document_type": name.split(":", 1)[0],
                "revision": revision,
                "op": op,
                "at": event.timestamp.isoformat(),
                "at_utc": _utc(event.timestamp),
                "line": event.line,
                "depth": event.depth,
                "channel": event.channel,
                "actor": event.actor,
                "fields": _json(values),
                "parameters": _json(event.parameters),
                "cause": event.cause,
            }
        )

    @fold.register
    def deleted(self, event: Element.Deleted, position: int, page: Page) -> None:
        name = self.element(event.originator_id)
        page.changes.append(
            {
                "id": position,
                "element": name,
                "document_type": name.split(":", 1)[0],
                "revision": event.revision,
                "op": "delete",
                "at": event.timestamp.isoformat(),
                "at_utc": _utc(event.timestamp),
                "line": event.line,
                "depth": 0,
                "channel": None,
                "actor": event.actor,
                "fields": "{}",
                "parameters": "{}",
                "cause": None,
            }
        )

    @fold.register
    def decided(self, event: Element.Decided, position: int, page: Page) -> None:
        name = self.element(event.originator_id)
        document_type = name.split(":", 1)[0]
        at = event.timestamp.isoformat()
        # The Decision record's fields as the event keeps them, then the ledger's own columns.
        row = dict(zip(EVENT_FIELDS, _decided(event), strict=True))
        row.update(
            id=position,
            at=at,
            at_utc=_utc(event.timestamp),
            element=name,
            document_type=document_type,
            revision=event.revision,
            checks=pack_checks(event.checks),
        )
        page.decisions.append(row)
        if event.process is not None:
            queued = event.outcome == "queued"
            page.new_processes[event.process] = {
                "process": event.process,
                "element": name,
                "document_type": document_type,
                "template": event.template,
                "template_version": event.template_version,
                "line": event.line,
                "depth": event.depth,
                "decision": position,
                "status": (ProcessStatus.QUEUED if queued else ProcessStatus.STARTING).value,
                "queued_at": at if queued else None,
                "started_at": None,
                "ends_at": None,
                "ended_at": None,
                "end_reason": None,
                "decided_utc": _utc(event.timestamp),
                "started_id": None,
                "ended_id": None,
            }

    @fold.register
    def process_started(self, event: Element.ProcessStarted, position: int, page: Page) -> None:
        page.update_process(
            event.process,
            status=ProcessStatus.RUNNING.value,
            started_id=position,
            started_at=event.timestamp.isoformat(),
            ends_at=event.ends_at.isoformat(),
        )

    @fold.register
    def process_completed(self, event: Element.ProcessCompleted, position: int, page: Page) -> None:
        page.update_process(
            event.process,
            status=ProcessStatus.COMPLETED.value,
            ended_at=event.timestamp.isoformat(),
            ended_id=position,
        )

    @fold.register
    def process_dropped(self, event: Element.ProcessDropped, position: int, page: Page) -> None:
        page.update_process(
            event.process,
            status=ProcessStatus.DROPPED.value,
            ended_at=event.timestamp.isoformat(),
            ended_id=position,
            end_reason=event.reason,
        )

    @fold.register
    def process_terminated(
        self, event: Element.ProcessTerminated, position: int, page: Page
    ) -> None:
        page.update_process(
            event.process,
            status=ProcessStatus.TERMINATED.value,
            ended_at=event.timestamp.isoformat(),
            ended_id=position,
            end_reason=event.reason,
        )

    @fold.register
    def cascade_halted(self, event: Element.CascadeHalted, position: int, page: Page) -> None:
        name = self.element(event.originator_id)
        page.halts.append(
            {
                "id": position,
                "element": name,
                "at": event.timestamp.isoformat(),
                "at_utc": _utc(event.timestamp),
                "line": event.line,
                "depth": event.depth,
                "chain": _json(event.chain),
            }
        )

    @fold.register
    def template_registered(self, event: Template.Registered, position: int, page: Page) -> None:
        self._template(page, position, event.config, sorted(event.config))

    @fold.register
    def template_reconfigured(
        self, event: Template.Reconfigured, position: int, page: Page
    ) -> None:
        self._template(page, position, event.config, event.changes)

    def _template(
        self, page: Page, position: int, config: TemplateRecord, changes: list[str]
    ) -> None:
        page.templates.append(
            {
                "template": config["template"],
                "version": config["version"],
                "id": position,
                "document_type": config["document_type"],
                "config": _json(config),
                "changes": _json(changes),
                "changed_by": config["changed_by"],
                "changed_at": config["changed_at"],
            }
        )

    @fold.register
    def settings_changed(self, event: Portal.SettingsChanged, position: int, page: Page) -> None:
        page.settings.append(
            {
                "id": position,
                "kind": "portal",
                "at": event.timestamp.isoformat(),
                "line": event.line,
                "actor": event.actor,
                "subject": None,
                "changes": _json(event.changes),
                "settings": _json(event.settings),
            }
        )

    @fold.register
    def container_configured(
        self, event: Portal.ContainerConfigured, position: int, page: Page
    ) -> None:
        changes = {"bizproc_enabled": event.bizproc_enabled}
        page.settings.append(
            {
                "id": position,
                "kind": "container",
                "at": event.timestamp.isoformat(),
                "line": event.line,
                "actor": event.actor,
                "subject": event.document_type,
                "changes": _json(changes),
                "settings": _json(changes),
            }
        )
