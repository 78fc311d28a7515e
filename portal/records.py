"""The records a snapshot holds, read field by field into typed rows (numbers as str or int).

A record is refused only for a field the audit cannot do without (`ESSENTIAL`): what identifies
it, ties it to its template or element, and places an add or a change in time. Every other field
may be absent (a `select` left it out), null or empty: it is unknown, and the row lists it in
`unknown` so that the inferences that needed it say so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from portal.fields import Fields
from portal.snapshot import Record
from portal.targets import FIRST_SMART_PROCESS, as_int

# The fields without which a record is refused, per method (a Drive folder needs only TYPE).
ESSENTIAL = {
    "bizproc.workflow.template.list": ("ID", "DOCUMENT_TYPE", "AUTO_EXECUTE"),
    "bizproc.workflow.instances": ("ID", "TEMPLATE_ID", "DOCUMENT_ID"),
    "bizproc.task.list": ("ID", "WORKFLOW_ID", "WORKFLOW_TEMPLATE_ID", "DOCUMENT_ID"),
    "crm.item.list": ("id", "createdTime"),
    "crm.stagehistory.list": ("ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME"),
    "crm.activity.list": ("ID", "OWNER_TYPE_ID", "OWNER_ID", "PROVIDER_ID"),
    "lists.element.get": ("ID", "DATE_CREATE"),
    "disk.storage.getchildren": ("TYPE", "ID", "STORAGE_ID", "CREATE_TIME"),
    "disk.folder.getchildren": ("TYPE", "ID", "STORAGE_ID", "CREATE_TIME"),
    "disk.file.getVersions": ("ID", "OBJECT_ID", "GLOBAL_CONTENT_VERSION", "CREATE_TIME"),
}
# The fields read when given, per method: absent, null or empty they are unknown.
OPTIONAL = {
    "bizproc.workflow.template.list": ("NAME", "MODULE_ID", "ENTITY", "TEMPLATE", "PARAMETERS"),
    "bizproc.workflow.instances": ("STARTED", "STARTED_BY"),
    "bizproc.task.list": ("WORKFLOW_STARTED", "WORKFLOW_STARTED_BY", "STATUS", "ACTIVITY"),
    "crm.item.list": ("createdBy", "updatedTime", "webformId", "sourceId"),
    "crm.stagehistory.list": ("STAGE_ID", "STATUS_ID"),
    "crm.activity.list": ("ORIGIN_ID", "CREATED", "SETTINGS"),
    "lists.element.get": ("CREATED_BY",),
    "disk.storage.getchildren": ("CREATED_BY",),
    "disk.folder.getchildren": ("CREATED_BY",),
    "disk.file.getVersions": ("CREATED_BY",),
}
# crm.item.list's types that have a web-form id: leads, quotes, smart processes (not deals).
WEBFORM_TYPES = frozenset({1, 7})


def has_webform(entity_type_id: int) -> bool:
    return entity_type_id in WEBFORM_TYPES or entity_type_id >= FIRST_SMART_PROCESS


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
    started: datetime | None
    started_by: int | None  # None: the record does not say


@dataclass(frozen=True, slots=True)
class TaskRow:
    id: int
    workflow: str
    template: int
    document_id: str
    started: datetime | None
    started_by: int | None
    status: int | None
    activity: str | None


@dataclass(frozen=True, slots=True)
class ActivityRow:
    id: int
    owner_type: int
    owner: int
    provider: str
    workflow: str | None
    template: int | None
    created: datetime | None


@dataclass(frozen=True, slots=True)
class ItemRow:
    entity_type: int
    id: int
    created: datetime
    updated: datetime | None
    created_by: int | None
    webform: int | None  # 0: none
    source: str | None
    unknown: tuple[str, ...] = ()  # fields the inferences needed and the record did not give


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
    created_by: int | None


@dataclass(frozen=True, slots=True)
class FileRow:
    id: int
    storage: int
    created: datetime
    created_by: int | None


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: int
    file: int
    number: int
    created: datetime
    created_by: int | None


def template_row(record: Record) -> TemplateRow:
    f = Fields(record)
    auto_execute = f.integer("AUTO_EXECUTE", positive=False)
    document_type = f.raw("DOCUMENT_TYPE")
    if not (
        (isinstance(document_type, str) and document_type)
        or (isinstance(document_type, list) and len(document_type) == 3)
    ):
        raise f.fail("DOCUMENT_TYPE", "a string or [module, entity, type]", document_type)
    tree = f.data["TEMPLATE"] if f.given("TEMPLATE") else None
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
        started=f.optional_time("STARTED"),
        started_by=f.optional_user("STARTED_BY"),
    )


def task_row(record: Record) -> TaskRow:
    f = Fields(record)
    return TaskRow(
        id=f.integer("ID"),
        workflow=f.text("WORKFLOW_ID"),
        template=f.integer("WORKFLOW_TEMPLATE_ID"),
        document_id=f.text("DOCUMENT_ID"),
        started=f.optional_time("WORKFLOW_STARTED"),
        started_by=f.optional_user("WORKFLOW_STARTED_BY"),
        status=f.optional_user("STATUS"),
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
        created=f.optional_time("CREATED"),
    )


def item_row(record: Record, entity_type: int) -> ItemRow:
    f = Fields(record)
    row = ItemRow(
        entity_type=entity_type,
        id=f.integer("id"),
        created=f.time("createdTime"),
        updated=f.optional_time("updatedTime"),
        created_by=f.optional_user("createdBy"),
        webform=f.optional_int("webformId") if has_webform(entity_type) else None,
        source=f.optional_text("sourceId"),
    )
    needed = ("createdBy", "webformId", "updatedTime")
    return replace(row, unknown=tuple(name for name in needed if name in f.unknown))


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
        created_by=f.optional_user("CREATED_BY"),
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
        created_by=f.optional_user("CREATED_BY"),
    )


def version_row(record: Record) -> VersionRow:
    f = Fields(record)
    return VersionRow(
        id=f.integer("ID"),
        file=f.integer("OBJECT_ID"),
        number=f.integer("GLOBAL_CONTENT_VERSION"),
        created=f.time("CREATE_TIME"),
        created_by=f.optional_user("CREATED_BY"),
    )
