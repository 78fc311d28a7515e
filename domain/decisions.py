"""One decision: a template's verdict on one change, as recorded, output and folded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    """One row of the SPEC's decision output."""

    line: int
    depth: int
    at: datetime
    element: str
    trigger: str
    channel: str
    template: int
    template_version: int
    outcome: str
    reason: str
    process: str | None
    checks: list[list[Any]] = field(default_factory=list, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The SPEC's output row (the checks stay in the store and in explanations)."""
        return {
            "line": self.line,
            "depth": self.depth,
            "at": self.at.isoformat(),
            "element": self.element,
            "trigger": self.trigger,
            "channel": self.channel,
            "template": self.template,
            "template_version": self.template_version,
            "outcome": self.outcome,
            "reason": self.reason,
            "process": self.process,
        }

    def event_fields(self) -> dict[str, Any]:
        """What the element's Decided event keeps (its time and element are the event's own)."""
        return {
            "line": self.line,
            "depth": self.depth,
            "trigger": self.trigger,
            "channel": self.channel,
            "template": self.template,
            "template_version": self.template_version,
            "outcome": self.outcome,
            "reason": self.reason,
            "process": self.process,
            "checks": self.checks,
        }
