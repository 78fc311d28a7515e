"""The records a snapshot holds, read field by field into typed rows (numbers as str or int)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from portal.fields import Fields, as_int
from portal.snapshot import Record

# Activities of a template that give a person a task (bizproc.task.list's ACTIVITY values).
TASK_ACTIVITIES = frozenset(
    {
        "ApproveActivity",
        "ReviewActivity",
        "RequestInformationActivity",
        "RequestInformationOptionalActivity",
    }
)


@dataclass(frozen=True, slots=True)
class TemplateRow:
    id: int
    name: str
    module: str | None
    entity: str | None
    document_type: Any  # as Bitrix gave it: a string or the 3-array
    auto_execute: int
    parameters: list[dict[str, Any]]
    constants: list[dict[str, Any]]
    task_steps: tuple[str, ...] | None  # None when TEMPLATE (the activity tree) was not given


@dataclass(frozen=True, slots=True)
class InstanceRow:
    id: str
    template: int
    document_id: str
    started: datetime
    started_by: int


@dataclass(frozen=True, slots=True)
class TaskRow:
    id: int
    workflow: str
    template: int
    document_id: str
    started: datetime
    started_by: int
    status: int
    activity: str | None


@dataclass(frozen=True, slots=True)
class ActivityRow:
    id: int
    owner_type: int
    owner: int
    provider: str
    workflow: str | None
    template: int | None
    created: datetime


@dataclass(frozen=True, slots=True)
class ItemRow:
    entity_type: int
    id: int
    created: datetime
    updated: datetime | None
    created_by: int
    webform: int | None
    source: str | None


@dataclass(frozen=True, slots=True)
class StageRow:
    entity_type: int
    id: int
    kind: int  # TYPE_ID: 1 created, 2 moved, 3 moved to a final stage, 5 funnel changed
    owner: int
    created: datetime
    stage: str


@dataclass(frozen=True, slots=True)
class ListElementRow:
    iblock_type: str
    iblock: int
    id: int
    created: datetime
    created_by: int


@dataclass(frozen=True, slots=True)
class FileRow:
    id: int
    storage: int
    created: datetime
    created_by: int


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: int
    file: int
    number: int
    created: datetime
    created_by: int


def template_row(record: Record) -> TemplateRow:
    f = Fields(record)
    auto_execute = f.integer("AUTO_EXECUTE", positive=False)
    if "DOCUMENT_TYPE" not in f.data:
        raise f.fail("DOCUMENT_TYPE", "the field (it is missing)")
    document_type = f.data["DOCUMENT_TYPE"]
    if not (
        isinstance(document_type, str)
        or (isinstance(document_type, list) and len(document_type) == 3)
    ):
        raise f.fail("DOCUMENT_TYPE", "a string or [module, entity, type]", document_type)
    tree = f.data.get("TEMPLATE")
    return TemplateRow(
        id=f.integer("ID"),
        name=f.optional_text("NAME") or "",
        module=f.optional_text("MODULE_ID"),
        entity=f.optional_text("ENTITY"),
        document_type=document_type,
        auto_execute=auto_execute,
        parameters=_named(f, "PARAMETERS", "Default"),
        constants=_named(f, "CONSTANTS", "Default"),
        task_steps=None if tree is None else tuple(sorted(_task_steps(tree))),
    )


def _named(f: Fields, name: str, value_key: str) -> list[dict[str, Any]]:
    """PARAMETERS or CONSTANTS ({name: {Required, Default, ...}}, `[]` when empty) as the
    SPEC's [{name, required, default|value}]."""
    given = f.data.get(name)
    if given is None or given in ([], ""):
        return []
    if not isinstance(given, dict):
        raise f.fail(name, "an object keyed by name (or [] when empty)", given)
    found = []
    for key, spec in given.items():
        if not isinstance(spec, dict):
            raise f.fail(f"{name}.{key}", "an object with Required and Default", spec)
        required = spec.get("Required") in (True, 1, "1", "Y")
        value = spec.get(value_key)
        entry: dict[str, Any] = {"name": key, "required": required}
        entry["default" if name == "PARAMETERS" else "value"] = (
            value if isinstance(value, str | int | float | bool) or value is None else str(value)
        )
        found.append(entry)
    return found


def _task_steps(tree: Any) -> set[str]:
    if isinstance(tree, list):
        return {step for child in tree for step in _task_steps(child)}
    if isinstance(tree, dict):
        found = {tree["Type"]} & TASK_ACTIVITIES if isinstance(tree.get("Type"), str) else set()
        return found | _task_steps(tree.get("Children", []))
    return set()


def instance_row(record: Record) -> InstanceRow:
    f = Fields(record)
    return InstanceRow(
        id=f.text("ID"),
        template=f.integer("TEMPLATE_ID"),
        document_id=f.text("DOCUMENT_ID"),
        started=f.time("STARTED"),
        started_by=f.user("STARTED_BY"),
    )


def task_row(record: Record) -> TaskRow:
    f = Fields(record)
    return TaskRow(
        id=f.integer("ID"),
        workflow=f.text("WORKFLOW_ID"),
        template=f.integer("WORKFLOW_TEMPLATE_ID"),
        document_id=f.text("DOCUMENT_ID"),
        started=f.time("WORKFLOW_STARTED"),
        started_by=f.user("WORKFLOW_STARTED_BY"),
        status=f.user("STATUS"),
        activity=f.optional_text("ACTIVITY"),
    )


def activity_row(record: Record) -> ActivityRow:
    f = Fields(record)
    settings = f.data.get("SETTINGS")
    template = None
    if isinstance(settings, dict) and settings.get("WORKFLOW_TEMPLATE_ID") not in (None, ""):
        template = as_int(settings["WORKFLOW_TEMPLATE_ID"])
        if template is None:
            raise f.fail("SETTINGS.WORKFLOW_TEMPLATE_ID", "a template id", settings)
    return ActivityRow(
        id=f.integer("ID"),
        owner_type=f.integer("OWNER_TYPE_ID"),
        owner=f.integer("OWNER_ID"),
        provider=f.text("PROVIDER_ID"),
        workflow=f.optional_text("ORIGIN_ID"),
        template=template,
        created=f.time("CREATED"),
    )


def item_row(record: Record, entity_type: int) -> ItemRow:
    f = Fields(record)
    updated = f.data.get("updatedTime")
    return ItemRow(
        entity_type=entity_type,
        id=f.integer("id"),
        created=f.time("createdTime"),
        updated=None if updated in (None, "") else f.time("updatedTime"),
        created_by=f.user("createdBy"),
        webform=f.optional_int("webformId"),
        source=f.optional_text("sourceId"),
    )


def stage_row(record: Record, entity_type: int) -> StageRow:
    f = Fields(record)
    return StageRow(
        entity_type=entity_type,
        id=f.integer("ID"),
        kind=f.integer("TYPE_ID"),
        owner=f.integer("OWNER_ID"),
        created=f.time("CREATED_TIME"),
        stage=f.optional_text("STAGE_ID") or f.optional_text("STATUS_ID") or "",
    )


def list_element_row(record: Record, iblock_type: str, iblock: int, tz: timezone) -> ListElementRow:
    f = Fields(record)
    return ListElementRow(
        iblock_type=iblock_type,
        iblock=iblock,
        id=f.integer("ID"),
        created=f.time("DATE_CREATE", tz),
        created_by=f.user("CREATED_BY"),
    )


def file_row(record: Record) -> FileRow | None:
    """A Drive file; None for a folder."""
    f = Fields(record)
    if f.text("TYPE") != "file":
        return None
    return FileRow(
        id=f.integer("ID"),
        storage=f.integer("STORAGE_ID"),
        created=f.time("CREATE_TIME"),
        created_by=f.user("CREATED_BY"),
    )


def version_row(record: Record) -> VersionRow:
    f = Fields(record)
    return VersionRow(
        id=f.integer("ID"),
        file=f.integer("OBJECT_ID"),
        number=f.integer("GLOBAL_CONTENT_VERSION"),
        created=f.time("CREATE_TIME"),
        created_by=f.user("CREATED_BY"),
    )
