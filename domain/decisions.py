"""One decision: a template's verdict on one change, as recorded, output and folded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from types import NoneType, UnionType
from typing import TypeAlias, get_args, get_type_hints

# What a check of the decision order looks at: a setting, a number, or a list of names.
CheckValue: TypeAlias = str | int | bool | list[str]
# One check as the Decided event keeps it: `[rule, values]`.
CheckRecord: TypeAlias = list[str | Mapping[str, CheckValue]]
# A decision as the SPEC's output writes it: each column an int, a str (times in ISO) or null.
DecisionRow: TypeAlias = dict[str, int | str | None]


@dataclass(frozen=True, slots=True)
class Decision:
    """One row of the SPEC's decision output; its field list is the one declaration of it."""

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
    # Kept in the event and the ledger, not in the output (metadata "output").
    checks: list[CheckRecord] = field(
        default_factory=list, compare=False, metadata={"output": False}
    )

    def as_dict(self) -> DecisionRow:
        """The SPEC's output row (the checks stay in the store and in explanations)."""
        row = dict(zip(OUTPUT_COLUMNS, _output(self), strict=True))
        row["at"] = self.at.isoformat()
        return row

    def event_fields(self) -> dict[str, object]:
        """What the element's Decided event keeps (its time and element are the event's own)."""
        return dict(zip(EVENT_FIELDS, _event(self), strict=True))


def _plain(hint: object) -> tuple[type[int] | type[str], bool]:
    """The plain type a field is written as (times as ISO text), and whether it may be null."""
    members = get_args(hint) if isinstance(hint, UnionType) else (hint,)
    plain = tuple(m for m in members if m is not NoneType)
    if plain not in ((int,), (str,), (datetime,)):
        raise TypeError(f"a decision column is an int, a str or a datetime, not {hint}")
    return (int if plain == (int,) else str), len(plain) < len(members)


_HINTS = get_type_hints(Decision)
_KEPT = tuple(f.name for f in fields(Decision) if f.metadata.get("output", True))
# The SPEC's decision columns in output order, each with the plain type it is written as: the
# JSON Lines rows, the ledger's decision columns and the export schema all derive from these.
OUTPUT_COLUMNS: dict[str, type[int] | type[str]] = {n: _plain(_HINTS[n])[0] for n in _KEPT}
NULLABLE_COLUMNS = frozenset(n for n in _KEPT if _plain(_HINTS[n])[1])
# The Decided event's own fields: the time and the element are the event's timestamp and stream.
EVENT_FIELDS = tuple(f.name for f in fields(Decision) if f.name not in ("at", "element"))
_output = attrgetter(*OUTPUT_COLUMNS)
_event = attrgetter(*EVENT_FIELDS)
