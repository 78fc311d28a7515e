"""The bench's figures: each beside its baseline and target, as a table or one JSON object."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    """What the figure should reach: its ratio (or value) at least or at most `limit`."""

    at_least: bool
    limit: float
    of: str = "ratio"

    def met(self, figure: Figure) -> bool | None:
        measured = figure.ratio if self.of == "ratio" else figure.value
        if measured is None:
            return None
        return measured >= self.limit if self.at_least else measured <= self.limit

    def describe(self, unit: str = "") -> str:
        sign = ">=" if self.at_least else "<="
        return f"{sign} {self.limit:g}{' ' + unit if self.of == 'value' and unit else ''}"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: `value` in `unit` (medians of the runs), over `baseline`."""

    name: str
    value: float
    unit: str
    shown: str
    baseline_name: str
    baseline: float | None
    baseline_shown: str
    ratio: float | None
    target: Target | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def met(self) -> bool | None:
        return self.target.met(self) if self.target is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": _rounded(self.value),
            "unit": self.unit,
            "baseline": _rounded(self.baseline),
            "baseline_name": self.baseline_name,
            "ratio": _rounded(self.ratio),
            "target": self.target.describe(self.unit) if self.target else None,
            "met": self.met(),
            **self.details,
        }


@dataclass(frozen=True, slots=True)
class Skipped:
    """A figure this run could not measure, and why."""

    name: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"skipped": self.reason}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _rounded(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 4) if abs(value) < 100 else round(value, 1)


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.3f}" if ratio < 10 else f"{ratio:,.1f}"


def render_table(heading: str, figures: Sequence[Figure | Skipped], notes: Sequence[str]) -> str:
    """A table a person reads: one row per figure."""
    header = ("figure", "value", "baseline", "ratio", "target", "met")
    rows: list[tuple[str, ...]] = [header]
    for figure in figures:
        if isinstance(figure, Skipped):
            rows.append((_label(figure.name), f"skipped: {figure.reason}", "", "", "", ""))
            continue
        met = figure.met()
        rows.append(
            (
                _label(figure.name),
                figure.shown,
                figure.baseline_shown,
                ratio_text(figure.ratio),
                figure.target.describe(figure.unit) if figure.target else "-",
                "-" if met is None else ("yes" if met else "no"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [heading, ""]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)


def _label(name: str) -> str:
    return name.replace("_", " ")
