"""The portal's configuration and traffic, in the SPEC's format, from what a snapshot shows.

Every channel that REST does not show is inferred from a signal (the names of
`audit_signals`), with its confidence: the stage history's insertion time against DATE_CREATE
(import or restore), DATE_CREATE out of order with the ids (restore), `webformId` (web form),
no creating user (a process), and for the rest a person's add or change (`ui`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.vocabulary import document_type as spec_type
from portal import documents
from portal.assumptions import Assumptions
from portal.contents import Contents
from portal.records import ItemRow, StageRow

# More than this between DATE_CREATE and the stage history's insertion time is not clock skew.
INSERTION_GAP = timedelta(seconds=60)
# A later updatedTime this far from every other known event is a change of its own.
CHANGE_GAP = timedelta(seconds=60)
CREATION_ROWS = (1, 3)  # stage-history TYPE_ID: created, or created in a final stage
# The signals a channel is inferred from (audit_signals' names, and this module's own), and
# how sure each can be, strongest first.
SIGNALS = (
    "stage_history_vs_date_create",
    "date_create_not_monotone_in_id",
    "source_fields",
    "created_by_zero",
    "stage_history_move",
    "updated_time",
    "list_element",
    "drive_version",
    "no_signal",
)
CONFIDENCES = ("strong heuristic", "heuristic", "medium", "weak", "default")


@dataclass(frozen=True, slots=True)
class Inference:
    """Why a change is taken to have come through a channel: the signal and how sure we are."""

    element: str
    trigger: str
    at: str
    channel: str
    signal: str
    confidence: str  # strong heuristic, heuristic, medium, weak, default
    label: str  # [CODE], [DOC], [INF] as in the REST notes
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "element": self.element,
            "trigger": self.trigger,
            "at": self.at,
            "channel": self.channel,
            "signal": self.signal,
            "confidence": self.confidence,
            "label": self.label,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    id: int
    name: str
    document_type: str | None  # None when the SPEC does not model its documents
    auto_execute: int
    task_steps: tuple[str, ...] | None
    unmodelled: str | None  # why the model leaves it out, when it does


@dataclass
class Derived:
    templates: dict[int, TemplateInfo] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    inferences: dict[int, Inference] = field(default_factory=dict)  # by traffic line number
    elements: set[str] = field(default_factory=set)

    def inference(self, line: int) -> Inference | None:
        return self.inferences.get(line)

    def by_element(self) -> dict[str, list[dict[str, Any]]]:
        """Each element's inferences, each with the traffic line it explains."""
        found: dict[str, list[dict[str, Any]]] = {}
        for line, inference in self.inferences.items():
            found.setdefault(inference.element, []).append(inference.as_dict() | {"line": line})
        return found


@dataclass(order=True)
class _Timed:
    at_utc: datetime
    order: int
    line: dict[str, Any] = field(compare=False)
    inference: Inference = field(compare=False)


def derive(contents: Contents, assumptions: Assumptions) -> Derived:
    """The configuration lines, then every add and change in time order, each inferred."""
    derived = Derived()
    for row in contents.templates:
        derived.templates[row.id] = _template_info(row)
    derived.lines.append(assumptions.portal_line())
    types = sorted({t.document_type for t in _modelled(derived) if t.document_type})
    for document_type in types:
        if spec_type(document_type).has_container and document_type in assumptions.containers:
            derived.lines.append(
                {
                    "op": "container",
                    "document_type": document_type,
                    "bizproc_enabled": assumptions.containers[document_type],
                }
            )
    rows = {row.id: row for row in contents.templates}
    for info in _modelled(derived):
        row = rows[info.id]
        line: dict[str, Any] = {
            "op": "template",
            "template": info.id,
            "document_type": info.document_type,
            "auto_execute": info.auto_execute,
            "active": True,
            "parameters": row.parameters,
            "constants": row.constants,
        }
        derived.lines.append(line | assumptions.templates.get(info.id, {}))
    timed: list[_Timed] = []
    timed.extend(_crm(contents, types))
    timed.extend(_lists(contents, types))
    timed.extend(_drive(contents, types))
    for number, event in enumerate(sorted(timed), start=len(derived.lines) + 1):
        derived.lines.append(event.line)
        derived.inferences[number] = event.inference
        derived.elements.add(event.line["element"])
    return derived


def _modelled(derived: Derived) -> list[TemplateInfo]:
    return [t for t in derived.templates.values() if t.unmodelled is None]


def _template_info(row: Any) -> TemplateInfo:
    document_type = documents.document_type(row.module, row.entity, row.document_type)
    unmodelled = None
    if document_type is None:
        unmodelled = f"document type {row.document_type!r} is none of the SPEC's"
    elif not 0 <= row.auto_execute <= 3:
        unmodelled = f"AUTO_EXECUTE {row.auto_execute}: a robot, script or trigger template"
    return TemplateInfo(
        row.id, row.name, document_type, row.auto_execute, row.task_steps, unmodelled
    )


def _actor(user: int) -> str | None:
    return f"user_{user}" if user > 0 else None


def _event(
    order: int, at: datetime, line: dict[str, Any], trigger: str, signal: tuple[str, str, str, str]
) -> _Timed:
    name, confidence, label, detail = signal
    line = {"op": line.pop("op"), "at": at.isoformat(), **line}
    inference = Inference(
        line["element"], trigger, line["at"], line["channel"], name, confidence, label, detail
    )
    return _Timed(at.astimezone(UTC), order, line, inference)


def _crm(contents: Contents, types: list[str]) -> list[_Timed]:
    stages: dict[tuple[int, int], list[StageRow]] = {}
    for stage in sorted(contents.stages, key=lambda s: (s.created, s.id)):
        stages.setdefault((stage.entity_type, stage.owner), []).append(stage)
    timed: list[_Timed] = []
    seen: set[str] = set()
    by_type: dict[int, list[ItemRow]] = {}
    for item in contents.items:
        by_type.setdefault(item.entity_type, []).append(item)
    for entity_type, items in sorted(by_type.items()):
        document_type = documents.crm_type(entity_type)
        if document_type is None or document_type not in types:
            continue
        latest_before: datetime | None = None
        for item in sorted(items, key=lambda i: i.id):
            name = f"{document_type}:{item.id}"
            if name in seen:  # paging may shift and show a row twice
                continue
            seen.add(name)
            history = stages.get((entity_type, item.id), [])
            restored = latest_before is not None and item.created < latest_before
            latest_before = max(latest_before or item.created, item.created)
            timed.extend(_item_events(len(timed), name, item, history, restored=restored))
    return timed


def _item_events(
    order: int, name: str, item: ItemRow, history: list[StageRow], *, restored: bool
) -> list[_Timed]:
    creation = next((s for s in history if s.kind in CREATION_ROWS), None)
    inserted = creation.created if creation is not None else item.created
    gap = inserted - item.created
    at = inserted if gap > INSERTION_GAP else item.created
    actor = _actor(item.created_by)
    channel, signal = _add_channel(item, gap, inserted, restored=restored)
    line: dict[str, Any] = {"op": "create", "element": name, "channel": channel}
    if actor:
        line["actor"] = actor
    events = [_event(order, at, line, "add", signal)]
    known = [at]
    for stage in history:
        if stage is creation or stage.created <= at:
            continue
        move = {
            "op": "update",
            "element": name,
            "channel": "ui",
            "changed": {"STAGE_ID": stage.stage},
        }
        detail = (
            f"stage history row {stage.id} (TYPE_ID {stage.kind}) moved it to {stage.stage}: "
            "a stage move with a time but no user and no channel, taken as a person's move"
        )
        signal = ("stage_history_move", "default", "[DOC]", detail)
        events.append(_event(order + len(events), stage.created, move, "change", signal))
        known.append(stage.created)
    updated = item.updated
    if updated is not None and updated > at and all(abs(updated - t) > CHANGE_GAP for t in known):
        change = {
            "op": "update",
            "element": name,
            "channel": "ui",
            "changed": {"UPDATED_TIME": updated.isoformat()},
        }
        detail = (
            f"updatedTime {updated.isoformat()} is later than every other known "
            "event: at least one change then; which fields changed, and through what, "
            "REST does not show"
        )
        signal = ("updated_time", "weak", "[INF]", detail)
        events.append(_event(order + len(events), updated, change, "change", signal))
    return events


def _add_channel(
    item: ItemRow, gap: timedelta, inserted: datetime, *, restored: bool
) -> tuple[str, tuple[str, str, str, str]]:
    created = item.created.isoformat()
    if gap > INSERTION_GAP and restored:
        return "ui", (
            "date_create_not_monotone_in_id",
            "heuristic",
            "[CODE]+[INF]",
            f"DATE_CREATE {created} is older than a lower id's and the stage history shows "
            f"the insertion at {inserted.isoformat()}: a Recycle Bin restore (new id, original "
            "DATE_CREATE), which starts on-add workflows with STARTED_BY 0; decided as an add "
            "that starts processes (ui)",
        )
    if gap > INSERTION_GAP:
        return "import", (
            "stage_history_vs_date_create",
            "strong heuristic",
            "[CODE]",
            f"inserted at {inserted.isoformat()} (stage history) but DATE_CREATE says "
            f"{created}, {_span(gap)} earlier: an import with a backdated creation time "
            "(a restore would also break the order of DATE_CREATE by id, which holds here)",
        )
    if item.webform:
        return "web_form", (
            "source_fields",
            "medium",
            "[CODE]",
            f"webformId {item.webform}: the item came from a CRM web form",
        )
    if item.created_by == 0:
        return "bizproc", (
            "created_by_zero",
            "weak",
            "[INF]",
            "created with no user (createdBy 0): a process step run in an agent or a queue; "
            "nothing on an item marks it as made by a process",
        )
    return "ui", (
        "no_signal",
        "default",
        "[INF]",
        f"no sign of an import, a restore, a web form or a process (source {item.source}): "
        "taken as a person's add",
    )


def _span(gap: timedelta) -> str:
    seconds = int(gap.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400} days"
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds} s"


def _lists(contents: Contents, types: list[str]) -> list[_Timed]:
    timed: list[_Timed] = []
    seen: set[str] = set()
    for row in sorted(contents.list_elements, key=lambda e: (e.iblock, e.id)):
        for kind, channel in (("feed", "feed"), ("lists", "ui")):
            document_type = f"{kind}.iblock_{row.iblock}"
            name = f"{document_type}:{row.id}"
            if document_type not in types or name in seen:
                continue
            seen.add(name)
            line: dict[str, Any] = {"op": "create", "element": name, "channel": channel}
            if row.created_by:
                line["actor"] = f"user_{row.created_by}"
            detail = (
                f"list element created {row.created.isoformat()} in the {kind} form; REST "
                "shows a list element's creation only, not its changes nor the parameter "
                "values given at start"
            )
            signal = ("list_element", "default", "[DOC]", detail)
            timed.append(_event(len(timed), row.created, line, "add", signal))
    return timed


def _drive(contents: Contents, types: list[str]) -> list[_Timed]:
    versions: dict[int, list[Any]] = {}
    for version in contents.versions:
        versions.setdefault(version.file, []).append(version)
    timed: list[_Timed] = []
    seen: set[str] = set()
    for row in sorted(contents.files, key=lambda f: f.id):
        document_type = f"disk.storage_{row.storage}"
        name = f"{document_type}:{row.id}"
        if document_type not in types or name in seen:
            continue
        seen.add(name)
        line: dict[str, Any] = {"op": "create", "element": name, "channel": "ui"}
        if row.created_by:
            line["actor"] = f"user_{row.created_by}"
        detail = "the file's first version: an upload (Drive shows no channel)"
        timed.append(
            _event(
                len(timed), row.created, line, "add", ("drive_version", "default", "[DOC]", detail)
            )
        )
        for version in sorted(versions.get(row.id, []), key=lambda v: v.number):
            if version.number <= 1 or version.created <= row.created:
                continue
            change: dict[str, Any] = {
                "op": "update",
                "element": name,
                "channel": "ui",
                "changed": {"VERSION": version.number},
            }
            if version.created_by:
                change["actor"] = f"user_{version.created_by}"
            detail = (
                f"version {version.number} ({version.created.isoformat()}): a new version is a "
                "change; uploads joined into one version make this a lower bound"
            )
            signal = ("drive_version", "default", "[DOC]", detail)
            timed.append(_event(len(timed), version.created, change, "change", signal))
    return timed
