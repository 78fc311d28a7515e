"""Golden files: one seeded scenario's decisions and the example traffic's, as they must stay.

A refactor that changes a decision fails here with the first differing line. When a change of
behaviour is meant, rewrite the files with
`AUTOSTART_UPDATE_GOLDEN=1 pytest tests/test_golden_decisions.py` and let the diff in review show
what changed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from replaying import autostart

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("AUTOSTART_UPDATE_GOLDEN") == "1"
SCENARIO_LINES = "2000"


def _compact(decisions: str) -> str:
    """One decision a line, its fields in the output's order, separated by spaces."""
    rows = []
    for text in decisions.splitlines():
        decision = json.loads(text)
        rows.append(" ".join("-" if v is None else str(v) for v in decision.values()))
    return "\n".join(rows) + "\n"


def _compare(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8").splitlines()
    assert expected, f"{name} is empty"
    for number, (want, got) in enumerate(zip(expected, actual.splitlines(), strict=False), 1):
        assert got == want, f"{name} line {number} differs"
    assert len(actual.splitlines()) == len(expected), f"{name}: another number of decisions"


def test_the_typical_cloud_scenario_decides_as_its_golden_file_says(tmp_path: Path) -> None:
    code, traffic, err = autostart("generate", "typical-cloud", "--lines", SCENARIO_LINES)
    assert code == 0, err
    (tmp_path / "traffic.jsonl").write_text(traffic, encoding="utf-8")

    code, decisions, err = autostart(
        "replay", str(tmp_path / "traffic.jsonl"), "--store", "memory:", "--quiet"
    )

    assert code == 0, err
    _compare("typical-cloud.decisions.txt", _compact(decisions))


def test_the_example_traffic_decides_as_its_golden_file_says(tmp_path: Path) -> None:
    code, traffic, err = autostart("example")
    assert code == 0, err
    (tmp_path / "example.jsonl").write_text(traffic, encoding="utf-8")

    code, decisions, err = autostart(
        "replay", str(tmp_path / "example.jsonl"), "--store", "memory:", "--quiet"
    )

    assert code == 0, err
    _compare("example.decisions.jsonl", decisions)
