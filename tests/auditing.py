"""Helpers for the audit's tests: run `portal audit --json` and pick one verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from replaying import autostart


def audit(snapshot: Path, store: Path | str, *options: str) -> dict[str, Any]:
    """`portal audit SNAPSHOT --store STORE --json`: its summary, the audit having succeeded."""
    code, out, err = autostart(
        "portal", "audit", str(snapshot), "--store", str(store), "--json", *options
    )
    assert code == 0, err
    summary: dict[str, Any] = json.loads(out)
    return summary


def verdict(summary: dict[str, Any], element: str, template: int, trigger: str) -> dict[str, Any]:
    """The one verdict on (element, template, trigger)."""
    found: list[dict[str, Any]] = [
        v
        for v in summary["verdicts"]
        if (v["element"], v["template"], v["trigger"]) == (element, template, trigger)
    ]
    assert len(found) == 1, found
    return found[0]
