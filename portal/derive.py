"""The portal's configuration and traffic, in the SPEC's format, from what a snapshot shows:
templates and settings first, then every add and change in time order, each inferred
(`portal.inference`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.vocabulary import document_type as spec_type
from portal import documents
from portal.assumptions import Assumptions
from portal.collected import Change, Collected
from portal.collected_traffic import merge
from portal.contents import Contents
from portal.inference import Inference, Timed, event, item_events
from portal.records import ItemRow, StageRow


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
    collected: dict[int, Change] = field(default_factory=dict)  # by traffic line number
    placed: set[int] = field(default_factory=set)  # lines only placing an item for a change

    def inference(self, line: int) -> Inference | None:
        return self.inferences.get(line)

    def by_element(self) -> dict[str, list[dict[str, Any]]]:
        """Each element's inferences, each with the traffic line it explains."""
        found: dict[str, list[dict[str, Any]]] = {}
        for line, inference in self.inferences.items():
            entry = inference.as_dict() | {"line": line}
            if line in self.collected:
                entry["collected"] = self.collected[line].as_dict()
            found.setdefault(inference.element, []).append(entry)
        return found


def derive(
    contents: Contents, assumptions: Assumptions, collected: Collected | None = None
) -> Derived:
    """The configuration lines, then every add and change in time order, each inferred; with
    `collected`, the collector's changes in their place (`portal.collected_traffic`)."""
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
    timed: list[Timed] = []
    timed.extend(_crm(contents, types))
    timed.extend(_lists(contents, types))
    timed.extend(_drive(contents, types))
    if collected is not None:
        timed = merge(timed, collected, types)
    for number, timed_line in enumerate(sorted(timed), start=len(derived.lines) + 1):
        derived.lines.append(timed_line.line)
        derived.inferences[number] = timed_line.inference
        derived.elements.add(timed_line.inference.element)
        if timed_line.change is not None:
            derived.collected[number] = timed_line.change
        if timed_line.placed:
            derived.placed.add(number)
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


def _crm(contents: Contents, types: list[str]) -> list[Timed]:
    stages: dict[tuple[int, int], list[StageRow]] = {}
    for stage in sorted(contents.stages, key=lambda s: (s.created, s.id)):
        stages.setdefault((stage.entity_type, stage.owner), []).append(stage)
    timed: list[Timed] = []
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
            timed.extend(
                item_events(
                    len(timed),
                    name,
                    item,
                    history,
                    restored=restored,
                    since=contents.manifest.since,
                )
            )
    return timed


def _lists(contents: Contents, types: list[str]) -> list[Timed]:
    timed: list[Timed] = []
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
            timed.append(event(len(timed), row.created, line, "add", signal))
    return timed


def _drive(contents: Contents, types: list[str]) -> list[Timed]:
    versions: dict[int, list[Any]] = {}
    for version in contents.versions:
        versions.setdefault(version.file, []).append(version)
    timed: list[Timed] = []
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
            event(
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
            timed.append(event(len(timed), version.created, change, "change", signal))
    return timed
