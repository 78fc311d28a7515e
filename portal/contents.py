"""Everything a snapshot shows, as typed rows, read whole before anything is recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any

from portal import records as r
from portal.snapshot import MANIFEST, Manifest, Record, Request, SnapshotError, read_records
from portal.targets import as_int

LIST_METHODS = ("lists.element.get",)
FILE_METHODS = ("disk.storage.getchildren", "disk.folder.getchildren")
# Methods an audit reads; any other method in a snapshot is kept as an observation only.
KNOWN_METHODS = (
    "bizproc.workflow.template.list",
    "bizproc.workflow.instances",
    "bizproc.workflow.instance.list",
    "bizproc.task.list",
    "crm.item.list",
    "crm.stagehistory.list",
    "crm.activity.list",
    *LIST_METHODS,
    *FILE_METHODS,
    "disk.file.getVersions",
)


@dataclass
class Contents:
    """A snapshot's records, typed; `observed` keeps every raw record for the store."""

    manifest: Manifest
    templates: list[r.TemplateRow] = field(default_factory=list)
    instances: list[r.InstanceRow] = field(default_factory=list)
    tasks: list[r.TaskRow] = field(default_factory=list)
    activities: list[r.ActivityRow] = field(default_factory=list)
    items: list[r.ItemRow] = field(default_factory=list)
    stages: list[r.StageRow] = field(default_factory=list)
    list_elements: list[r.ListElementRow] = field(default_factory=list)
    files: list[r.FileRow] = field(default_factory=list)
    versions: list[r.VersionRow] = field(default_factory=list)
    observed: list[Record] = field(default_factory=list)

    def fetched(self, method: str) -> bool:
        """Whether the pull asked for `method` at all (an empty answer still counts)."""
        return any(request.method == method for request in self.manifest.requests)


def read_contents(folder: Path, manifest: Manifest, tz: timezone) -> Contents:
    """Reads every request's pages; raises SnapshotError naming the file, page and field."""
    contents = Contents(manifest)
    for number, request in enumerate(manifest.requests):
        for record in read_records(folder, request):
            contents.observed.append(record)
            _add(contents, number, request, record, tz)
    return contents


def _add(contents: Contents, number: int, request: Request, record: Record, tz: timezone) -> None:
    method = request.method
    if method == "bizproc.workflow.template.list":
        contents.templates.append(r.template_row(record))
    elif method in ("bizproc.workflow.instances", "bizproc.workflow.instance.list"):
        contents.instances.append(r.instance_row(record))
    elif method == "bizproc.task.list":
        contents.tasks.append(r.task_row(record))
    elif method == "crm.activity.list":
        contents.activities.append(r.activity_row(record))
    elif method == "crm.item.list":
        contents.items.append(r.item_row(record, _param_int(number, request, "entityTypeId")))
    elif method == "crm.stagehistory.list":
        contents.stages.append(r.stage_row(record, _param_int(number, request, "entityTypeId")))
    elif method in LIST_METHODS:
        iblock_type = request.params.get("IBLOCK_TYPE_ID")
        if not isinstance(iblock_type, str) or not iblock_type:
            raise _param_error(number, "IBLOCK_TYPE_ID", "a list type", iblock_type)
        iblock = _param_int(number, request, "IBLOCK_ID")
        contents.list_elements.append(r.list_element_row(record, iblock_type, iblock, tz))
    elif method in FILE_METHODS:
        row = r.file_row(record)
        if row is not None:
            contents.files.append(row)
    elif method == "disk.file.getVersions":
        contents.versions.append(r.version_row(record))


def _param_int(number: int, request: Request, name: str) -> int:
    value = as_int(request.params.get(name))
    if value is None or value <= 0:
        raise _param_error(number, name, "a positive integer", request.params.get(name))
    return value


def _param_error(number: int, name: str, expected: str, got: Any) -> SnapshotError:
    return SnapshotError(MANIFEST, None, f"requests[{number}].params.{name}", expected, got)
