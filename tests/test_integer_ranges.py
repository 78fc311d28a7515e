"""The documented ranges hold at their edges: stored, folded and read back on both engines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from replaying import autostart

from simulations.traffic import MAX_DURATION_S, MAX_INT, MAX_LIMIT, MAX_TEMPLATE_ID, MIN_INT

TOP_TYPE = f"crm.dynamic_{2**31 - 1}"
TOP_ELEMENT = f"{TOP_TYPE}:{2**62}"
LATE = "9799-12-31T23:00:00+00:00"
# Every integer of the SPEC at the top of its range, on one line or another.
EDGES: list[dict[str, Any]] = [
    {"op": "portal", "limit_simultaneous_processes": MAX_LIMIT},
    {"op": "template", "template": MAX_TEMPLATE_ID, "document_type": TOP_TYPE,
     "auto_execute": 3, "duration": MAX_DURATION_S, "actions": [{"create": TOP_TYPE}]},
    {"op": "create", "at": LATE, "element": TOP_ELEMENT, "channel": "ui",
     "fields": {"LOW": MIN_INT, "HIGH": MAX_INT}},
]  # fmt: skip
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("kind", STORES)
def test_every_range_holds_its_largest_value_through_every_command(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = request.getfixturevalue("postgres_url") if kind == "postgres" else "edges.db"
    store = store if kind == "postgres" else str(tmp_path / store)
    traffic = tmp_path / "edges.jsonl"
    traffic.write_text("".join(json.dumps(line) + "\n" for line in EDGES))

    replayed = autostart("replay", str(traffic), "--store", store)
    exported = autostart("decisions", "--store", store, "--out", str(tmp_path / "out.jsonl"))
    why = autostart("why", TOP_ELEMENT, "--store", store, "--json")
    checked = autostart("check", "--store", store)
    rebuilt = autostart("project", "--rebuild", "--store", store)

    assert [r[0] for r in (replayed, exported, why, checked, rebuilt)] == [0, 0, 0, 0, 0]
    made = f"{TOP_TYPE}:{2**62 + 1}"  # the process's element, above the traffic range
    assert [(d["element"], d["template"]) for d in map(json.loads, replayed[1].splitlines())] == [
        (TOP_ELEMENT, MAX_TEMPLATE_ID),
        (made, MAX_TEMPLATE_ID),
    ]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
    explanation = json.loads(why[1])
    assert explanation["changes"][0]["fields"] == {"LOW": MIN_INT, "HIGH": MAX_INT}
    process = explanation["changes"][0]["decisions"][0]["process_status"]
    assert process["ends_at"].startswith("9899-")
