"""A template's configuration at one version: what a decision is made against."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag
from typing import Any


class AutoExecute(IntFlag):
    """Bitrix's `AUTO_EXECUTE` bitmask (CBPDocumentEventType): 1 on add, 2 on change."""

    NONE = 0
    CREATE = 1
    EDIT = 2


def is_missing(value: Any) -> bool:
    """The SPEC counts an absent, null or empty-string value as missing."""
    return value is None or value == ""


@dataclass(frozen=True, slots=True)
class TemplateConfig:
    """One configuration version of a template, frozen as the decisions saw it."""

    template: int
    document_type: str
    version: int
    auto_execute: int
    active: bool
    parameters: tuple[dict[str, Any], ...]
    constants: tuple[dict[str, Any], ...]
    duration_s: int
    actions: tuple[dict[str, Any], ...]
    changed_by: str | None
    changed_at: str | None

    @property
    def bits(self) -> AutoExecute:
        return AutoExecute(self.auto_execute)

    @property
    def untuned_constants(self) -> list[str]:
        return [c["name"] for c in self.constants if c["required"] and is_missing(c.get("value"))]

    def unset_parameters(self, given: dict[str, Any]) -> list[str]:
        """Required parameters with neither a value in `given` nor a default."""
        return [
            p["name"]
            for p in self.parameters
            if p["required"] and is_missing(given.get(p["name"])) and is_missing(p.get("default"))
        ]

    def as_dict(self) -> dict[str, Any]:
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
    def from_dict(cls, data: dict[str, Any]) -> TemplateConfig:
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
