"""One Decision record: its field list is the JSON Lines row, the ledger's columns, the export."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import fields
from pathlib import Path
from typing import Any

from replaying import as_lines, at, autostart

from domain.decisions import NULLABLE_COLUMNS, OUTPUT_COLUMNS, Decision
from projections.queries import DECISION_SCHEMA

TRAFFIC: list[dict[str, Any]] = [
    {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 1},
    {"op": "create", "at": at(0), "element": "crm.deal:101", "channel": "ui"},
]
# What the ledger and the export add of their own, beside the record's fields.
LEDGER_OWN = {"id", "at_utc", "document_type", "revision", "checks"}


def test_the_output_columns_are_the_record_fields_in_order_with_their_plain_types() -> None:
    record = [f.name for f in fields(Decision) if f.name != "checks"]

    assert list(OUTPUT_COLUMNS) == record
    assert OUTPUT_COLUMNS["line"] is int
    assert OUTPUT_COLUMNS["template_version"] is int
    assert OUTPUT_COLUMNS["at"] is str  # a time is written as ISO text
    assert {"process"} == NULLABLE_COLUMNS


def test_the_export_schema_is_the_record_and_the_document_type_after_the_element() -> None:
    expected = list(OUTPUT_COLUMNS)
    expected.insert(expected.index("element") + 1, "document_type")

    assert list(DECISION_SCHEMA) == expected
    assert all(DECISION_SCHEMA[name] is kind for name, kind in OUTPUT_COLUMNS.items())


def test_printed_rows_ledger_columns_and_exported_rows_follow_the_record(tmp_path: Path) -> None:
    traffic = tmp_path / "traffic.jsonl"
    traffic.write_text("\n".join(as_lines(TRAFFIC)) + "\n")
    store = str(tmp_path / "store.db")

    code, printed, _ = autostart("replay", str(traffic), "--store", store)
    out = tmp_path / "decisions.jsonl"
    exported_code, _, _ = autostart("decisions", "--store", store, "--out", str(out))

    assert (code, exported_code) == (0, 0)
    rows = [json.loads(line) for line in printed.splitlines()]
    assert rows
    assert all(list(row) == list(OUTPUT_COLUMNS) for row in rows)
    exported_rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [list(row) for row in exported_rows] == [list(DECISION_SCHEMA)] * len(rows)
    assert [{k: r[k] for k in OUTPUT_COLUMNS} for r in exported_rows] == rows
    with closing(sqlite3.connect(store)) as db:
        table = db.execute("PRAGMA table_info(decisions)").fetchall()
    columns = {name: not_null for _, name, _, not_null, _, _ in table}
    assert set(columns) == set(OUTPUT_COLUMNS) | LEDGER_OWN
    assert {name for name in OUTPUT_COLUMNS if not columns[name]} == NULLABLE_COLUMNS
