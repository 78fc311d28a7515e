"""A template's configuration at one version: what a decision is made against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntFlag
from typing import NotRequired, TypedDict

from domain.json import JsonObject, JsonValue


class AutoExecute(IntFlag):
    """Bitrix's `AUTO_EXECUTE` bitmask (CBPDocumentEventType): 1 on add, 2 on change."""

    NONE = 0
    CREATE = 1
    EDIT = 2


def is_missing(value: object) -> bool:
    """The SPEC counts an absent, null or empty-string value as missing."""
    return value is None or value == ""


class Parameter(TypedDict):
    """A template parameter: its value comes with the change that starts the process."""

    name: str
    required: bool
    default: NotRequired[JsonValue]


class Constant(TypedDict):
    """A template constant: tuned once on the template."""

    name: str
    required: bool
    value: NotRequired[JsonValue]


class Action(TypedDict, total=False):
    """What a started process does: one key, `update` (the fields it changes) or `create`
    (the document type of the element it creates)."""

    update: JsonObject
    create: str


class TemplateRecord(TypedDict):
    """A configuration as its events keep it (`duration` in seconds)."""

    template: int
    document_type: str
    version: int
    auto_execute: int
    active: bool
    parameters: list[Parameter]
    constants: list[Constant]
    duration: int
    actions: list[Action]
    changed_by: str | None
    changed_at: str | None


class TemplateChanges(TypedDict, total=False):
    """A `template` line's keys: a first version's values, or what a new version changes."""

    document_type: str
    auto_execute: int
    active: bool
    parameters: list[Parameter]
    constants: list[Constant]
    duration: int
    actions: list[Action]


@dataclass(frozen=True, slots=True)
class TemplateConfig:
    """One configuration version of a template, frozen as the decisions saw it."""

    template: int
    document_type: str
    version: int
    auto_execute: int
    active: bool
    parameters: tuple[Parameter, ...]
    constants: tuple[Constant, ...]
    duration_s: int
    actions: tuple[Action, ...]
    changed_by: str | None
    changed_at: str | None

    @property
    def bits(self) -> AutoExecute:
        return AutoExecute(self.auto_execute)

    @property
    def untuned_constants(self) -> list[str]:
        return [c["name"] for c in self.constants if c["required"] and is_missing(c.get("value"))]

    def unset_parameters(self, given: Mapping[str, JsonValue]) -> list[str]:
        """Required parameters with neither a value in `given` nor a default."""
        return [
            p["name"]
            for p in self.parameters
            if p["required"] and is_missing(given.get(p["name"])) and is_missing(p.get("default"))
        ]

    def as_dict(self) -> TemplateRecord:
        return {
            "template": self.template,
            "document_type": self.document_type,
            "version": self.version,
            "auto_execute": self.auto_execute,
            "active": self.active,
            "parameters": list(self.parameters),
            "constants": list(self.constants),
            "duration": self.duration_s,
            "actions": list(self.actions),
            "changed_by": self.changed_by,
            "changed_at": self.changed_at,
        }

    @classmethod
    def from_dict(cls, data: TemplateRecord) -> TemplateConfig:
        return cls(
            template=data["template"],
            document_type=data["document_type"],
            version=data["version"],
            auto_execute=data["auto_execute"],
            active=data["active"],
            parameters=tuple(data["parameters"]),
            constants=tuple(data["constants"]),
            duration_s=data["duration"],
            actions=tuple(data["actions"]),
            changed_by=data["changed_by"],
            changed_at=data["changed_at"],
        )
