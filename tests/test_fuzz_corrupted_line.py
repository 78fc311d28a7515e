"""Fuzz: valid traffic with one corrupted line, replayed into a store that holds a replay already.

Every outcome is exit 2 naming the line with the store unchanged table by table, or an
acceptance of a line that is still valid traffic (README, "Bad input and ranges"): then the store
stays usable (`check` passes, `project --rebuild` folds the same read models). Never a traceback.
AUTOSTART_FUZZ_EXAMPLES sets the budget (120 by default, under a minute); run with `-s` to see
the figures: tried, refused, accepted and why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replaying import autostart

from projections.schema import POSITIONS

EXAMPLES = int(os.environ.get("AUTOSTART_FUZZ_EXAMPLES", "120"))
EXAMPLE = resources.files("simulations").joinpath("examples", "portal.jsonl").read_text()
# Valid after the example: every op, most fields.
FOLLOW: list[dict[str, Any]] = [
    {"op": "portal", "at": "2026-03-02T14:00:00+03:00", "actor": "admin_1",
     "plan": "professional", "limit_simultaneous_processes": 2, "features": {"bizproc": True}},
    {"op": "template", "template": 14, "document_type": "crm.deal", "auto_execute": 1,
     "parameters": [{"name": "Amount", "required": True, "default": "0"}],
     "constants": [{"name": "Approver", "required": True, "value": "user_1"}],
     "duration": 1200, "actions": [{"create": "crm.lead"}, {"update": {"STAGE_ID": "NEW"}}]},
    {"op": "container", "document_type": "lists.iblock_5", "bizproc_enabled": False,
     "actor": "admin_2"},
    {"op": "create", "at": "2026-03-02T14:05:00+03:00", "element": "crm.deal:104",
     "channel": "rest", "actor": "app_3", "fields": {"TITLE": "From the shop", "AMOUNT": 120}},
    {"op": "update", "at": "2026-03-02T14:10:00+03:00", "element": "crm.deal:101",
     "channel": "web_form", "changed": {"PHONE": "+7 900"}, "parameters": {"Amount": "10"}},
    {"op": "import", "at": "2026-03-02T14:20:00+03:00", "document_type": "crm.contact",
     "file": "contacts.csv", "elements": ["crm.contact:1", "crm.contact:2"]},
    {"op": "create", "at": "2026-03-02T14:30:00+03:00", "element": "feed.iblock_22:903",
     "channel": "feed", "parameters": {"Reason": "Training"}},
    {"op": "update", "at": "2026-03-02T14:40:00+03:00", "element": "disk.storage_1:5121",
     "channel": "rest", "changed": {"VERSION": 2}, "parameters": {"Reviewer": "user_4"}},
    {"op": "delete", "at": "2026-03-02T14:50:00+03:00", "element": "crm.deal:104"},
    {"op": "create", "at": "2026-03-02T15:00:00+03:00", "element": "crm.deal:105",
     "channel": "ui"},
]  # fmt: skip
# Free text the SPEC accepts whatever it says: a corruption there is still valid traffic.
FREE_FORM = {"fields", "changed", "parameters", "actor", "file", "value", "default", "update"}
EDGY = [
    0, -1, 1, 3, 4, 2**31 - 1, 2**31, 2**62, 2**62 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30,
    "", "\ud800", "a\x00b", "crm.deal:101", "crm.deal:999", f"crm.deal:{2**63}", "crm.lead",
    "crm.dynamic_2147483648", "2026-03-02T14:00:00+03:00", "9999-12-31T23:59:59+00:00",
    "2026-03-02T14:00:00", "ui", "import", "bizproc", "web_form", "email", float("nan"),
]  # fmt: skip
VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(EDGY),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
TEXT_KINDS = ("truncate", "insert", "drop")
# Written into the text after json.dumps: what json.dumps never writes.
RAW = {"HUGE": "9" * 5000, "DEEP": "[" * 3000 + "]" * 3000, "EXP": "1e999"}


@dataclass(frozen=True)
class Corruption:
    line: int  # 1-based, in the corrupted file
    text: str
    kind: str
    path: tuple[str | int, ...] = ()


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found.append((*prefix, key))
        if isinstance(item, dict | list) and item:
            found.extend(paths(item, (*prefix, key)))
    return found


def at_path(value: Any, path: tuple[str | int, ...]) -> tuple[Any, str | int]:
    for key in path[:-1]:
        value = value[key]
    return value, path[-1]


@st.composite
def corruptions(draw: st.DrawFn) -> Corruption:
    index = draw(st.integers(0, len(FOLLOW) - 1), label="line")
    line = json.loads(json.dumps(FOLLOW[index]))
    text = json.dumps(line)
    kind = draw(
        st.sampled_from(
            ["replace", "replace", "replace", "delete", "add", "duplicate", "raw", *TEXT_KINDS]
        ),
        label="kind",
    )
    number = index + 1
    if kind in TEXT_KINDS:
        at = draw(st.integers(0, len(text) - 1), label="at")
        if kind == "truncate":
            return Corruption(number, text[:at], kind)
        if kind == "drop":
            return Corruption(number, text[:at] + text[at + 1 :], kind)
        character = draw(st.sampled_from('{}[]",:0 a\\') | st.characters(), label="character")
        return Corruption(number, text[:at] + character + text[at:], kind)
    path = draw(st.sampled_from(paths(line)), label="path")
    parent, key = at_path(line, path)
    if kind == "delete":
        del parent[key]
    elif kind == "add":
        if isinstance(parent, list):
            parent.append(draw(VALUES, label="value"))
        else:
            parent[draw(st.text(min_size=1, max_size=6), label="key")] = draw(VALUES)
    elif kind == "duplicate" and isinstance(parent, dict):
        # The key again, first, with another value: json.dumps cannot write it, so by text.
        body = json.dumps(parent)
        again = json.dumps({key: draw(VALUES, label="value")})[1:-1]
        text = json.dumps(line).replace(body, "{" + again + ", " + body[1:], 1)
        return Corruption(number, text, kind, path)
    elif kind == "raw":
        parent[key] = draw(st.sampled_from(sorted(RAW)), label="raw")
        text = json.dumps(line)
        return Corruption(number, text.replace(f'"{parent[key]}"', RAW[parent[key]]), kind, path)
    else:
        parent[key] = draw(VALUES, label="value")
    return Corruption(number, json.dumps(line), kind, path)


def tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the store (events, snapshots, read models), row by row."""
    with closing(sqlite3.connect(path)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: sorted(db.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for name in names
        }


def read_models(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: rows
        for name, rows in tables(path).items()
        if name not in ("stored_events", "snapshots", POSITIONS)
    }


def why_accepted(corruption: Corruption, later_refused: bool) -> str:
    if later_refused:
        return "still valid; a later line refused (named)"
    if corruption.kind in TEXT_KINDS:
        return "a text change that is still the same or another valid line"
    if FREE_FORM & {str(key) for key in corruption.path}:
        return "a free-form value (fields, changed, parameters, actor, file, values)"
    if corruption.kind == "delete":
        return "an optional key removed"
    return "another value the SPEC allows"


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "example.jsonl").write_text(EXAMPLE)
    store = folder / "base.db"
    assert autostart("replay", str(folder / "example.jsonl"), "--store", str(store))[0] == 0
    return store


@pytest.mark.slow
def test_one_corrupted_line_is_refused_by_number_or_accepted_as_valid(base_store: Path) -> None:
    figures: Counter[str] = Counter()
    kept = tables(base_store)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(corruptions())
    def replay_one(corruption: Corruption) -> None:
        lines = [json.dumps(line) for line in FOLLOW]
        lines[corruption.line - 1] = corruption.text
        with tempfile.TemporaryDirectory() as folder:
            store = Path(shutil.copy(base_store, Path(folder) / "store.db"))
            traffic = Path(folder) / "traffic.jsonl"
            traffic.write_text("\n".join(lines) + "\n", errors="surrogatepass")

            code, out, err = autostart("replay", str(traffic), "--store", str(store))

            assert code in (0, 2), err
            assert "Traceback" not in err
            if code == 2:
                refused = re.search(r"\bline (\d+)\b", err)
                assert refused, err
                assert len(err.strip().splitlines()) == 1, err
                assert "expected" in err
                assert out == ""
                assert int(refused[1]) >= corruption.line, err
                assert tables(store) == kept
                if int(refused[1]) == corruption.line:
                    figures["refused, the corrupted line named"] += 1
                    return
            checked = autostart("check", "--store", str(store))
            folded = read_models(store)
            rebuilt = autostart("project", "--rebuild", "--store", str(store))
            assert checked[0] == 0, checked
            assert rebuilt[0] == 0, rebuilt
            assert read_models(store) == folded
            figures["accepted: " + why_accepted(corruption, later_refused=code == 2)] += 1

    replay_one()

    print(f"\nfuzz: {sum(figures.values())} corrupted lines tried")
    for outcome, count in figures.most_common():
        print(f"  {count:5d}  {outcome}")
    assert figures["refused, the corrupted line named"] > 0
