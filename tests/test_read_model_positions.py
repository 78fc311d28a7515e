"""The read models keep their positions in a table of their own, not in `tracking`."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from replaying import as_lines, at, autostart

from projections.runner import SCHEMA_KEY, SCHEMA_VERSION
from projections.schema import POSITIONS

TRAFFIC: list[dict[str, Any]] = [
    {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 1},
    {"op": "create", "at": at(0), "element": "crm.deal:101", "channel": "ui"},
    {"op": "update", "at": at(1), "element": "crm.deal:101", "channel": "ui", "changed": {"A": 1}},
]


def projected_store(folder: Path) -> str:
    traffic = folder / "traffic.jsonl"
    traffic.write_text("\n".join(as_lines(TRAFFIC)) + "\n")
    store = str(folder / "store.db")
    assert autostart("replay", str(traffic), "--store", store)[0] == 0
    assert autostart("project", "--store", store)[0] == 0
    return store


def exported(store: str, out: Path) -> list[dict[str, Any]]:
    assert autostart("decisions", "--store", store, "--out", str(out))[0] == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def tables(store: str) -> set[str]:
    with closing(sqlite3.connect(store)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_projected_store_has_no_table_named_tracking(tmp_path: Path) -> None:
    store = projected_store(tmp_path)

    assert POSITIONS in tables(store)
    assert "tracking" not in tables(store)


def test_a_store_of_schema_2_is_rebuilt_and_its_old_positions_table_dropped(
    tmp_path: Path,
) -> None:
    store = projected_store(tmp_path)
    before = exported(store, tmp_path / "before.jsonl")
    with closing(sqlite3.connect(store)) as db, db:
        db.execute(f"ALTER TABLE {POSITIONS} RENAME TO tracking")
        db.execute("UPDATE tracking SET position = 2 WHERE name = ?", (SCHEMA_KEY,))

    after = exported(store, tmp_path / "after.jsonl")

    assert after == before
    assert "tracking" not in tables(store)
    with closing(sqlite3.connect(store)) as db:
        version = db.execute(f"SELECT position FROM {POSITIONS} WHERE name = ?", (SCHEMA_KEY,))
        assert version.fetchall() == [(SCHEMA_VERSION,)]


def test_a_rebuild_keeps_the_event_librarys_own_tracking_table(tmp_path: Path) -> None:
    store = projected_store(tmp_path)
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("CREATE TABLE tracking (application_name TEXT, notification_id INTEGER)")
        db.execute("INSERT INTO tracking VALUES ('upstream', 42)")
        db.execute(f"UPDATE {POSITIONS} SET position = 2 WHERE name = ?", (SCHEMA_KEY,))

    rows = exported(store, tmp_path / "decisions.jsonl")

    assert rows
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT * FROM tracking").fetchall() == [("upstream", 42)]
