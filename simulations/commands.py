"""The traffic's commands: one frozen, typed class per op, made by the parser at the edge.

A tagged union of `msgspec` structs: frozen, typed, and built several times faster than a
frozen dataclass (whose `__init__` goes through `object.__setattr__` field by field), which keeps
the parser's time a line as it was. `msgspec.json.encode(command)` writes a line back, its `op`
first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import msgspec

from domain.configs import TemplateChanges
from domain.settings import PortalChanges
from domain.vocabulary import Channel

_CHANNELS = {channel.value: channel for channel in Channel}


class Line(msgspec.Struct, frozen=True, tag_field="op"):
    """Where a command came from: its traffic line, its time (if given) and who did it."""

    line: int
    at: datetime | None
    actor: str | None


class ChangePortal(Line, frozen=True, tag="portal"):
    """`portal`: settings that change from now on (only the ones given)."""

    changes: PortalChanges


class ConfigureContainer(Line, frozen=True, tag="container"):
    """`container`: a Feed list, workgroup list or Drive storage turns processes on or off."""

    document_type: str
    bizproc_enabled: bool


class ConfigureTemplate(Line, frozen=True, tag="template"):
    """`template`: a template registered or changed (only the keys given)."""

    template: int
    config: TemplateChanges


class CreateElement(Line, frozen=True, tag="create"):
    """`create`: a new element, through a channel."""

    element: str
    channel: Channel
    fields: dict[str, Any] | None
    parameters: dict[str, Any] | None


class UpdateElement(Line, frozen=True, tag="update"):
    """`update`: an element's fields changed, through a channel."""

    element: str
    channel: Channel
    changed: dict[str, Any]
    parameters: dict[str, Any] | None


class ImportElements(Line, frozen=True, tag="import"):
    """`import`: elements created by a CSV/XLS import (never a start)."""

    document_type: str
    elements: list[str]
    file: str | None


class DeleteElement(Line, frozen=True, tag="delete"):
    """`delete`: an element removed; its queue is dropped, its instances terminated."""

    element: str


Command = (
    ChangePortal
    | ConfigureContainer
    | ConfigureTemplate
    | CreateElement
    | UpdateElement
    | ImportElements
    | DeleteElement
)


def make_command(op: str, line: Line, data: dict[str, Any]) -> Command:
    """The typed command of a checked line's op and fields (`data` passed the line's checks)."""
    where = (line.line, line.at, line.actor)
    if op == "portal":
        return ChangePortal(*where, cast("PortalChanges", data))
    if op == "container":
        return ConfigureContainer(*where, data["document_type"], data["bizproc_enabled"])
    if op == "template":
        config = {k: v for k, v in data.items() if k != "template"}
        return ConfigureTemplate(*where, data["template"], cast("TemplateChanges", config))
    if op == "create":
        return CreateElement(
            *where,
            data["element"],
            _CHANNELS[data["channel"]],
            data.get("fields"),
            data.get("parameters"),
        )
    if op == "update":
        return UpdateElement(
            *where,
            data["element"],
            _CHANNELS[data["channel"]],
            data["changed"],
            data.get("parameters"),
        )
    if op == "import":
        return ImportElements(*where, data["document_type"], data["elements"], data.get("file"))
    return DeleteElement(*where, data["element"])
