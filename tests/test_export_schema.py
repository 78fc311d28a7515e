"""Exports write one declared schema: a column null in a first chunk is not typed by it."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from projections.queries import DECISION_SCHEMA, PROCESS_COLUMNS, PROCESS_SCHEMA
from simulations.cli.export import CHUNK, write_rows


def _process(number: int, *, ended: bool) -> dict[str, Any]:
    return {
        "process": f"crm.deal:{number}#1",
        "element": f"crm.deal:{number}",
        "document_type": "crm.deal",
        "template": 7,
        "template_version": 1,
        "line": number,
        "depth": 0,
        "status": "completed" if ended else "running",
        "queued_at": None,
        "started_at": "2026-03-02T09:00:00+03:00",
        "ends_at": "2026-03-02T09:05:00+03:00",
        "ended_at": "2026-03-02T09:05:00+03:00" if ended else None,
        "end_reason": "done" if ended else None,
    }


def test_a_column_null_for_the_first_chunk_and_filled_later_exports_to_parquet() -> None:
    rows = [_process(n, ended=n > CHUNK) for n in range(1, CHUNK + 501)]
    out = io.BytesIO()

    count = write_rows(rows, PROCESS_SCHEMA, "parquet", out)

    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert count == CHUNK + 500
    assert table.column_names == list(PROCESS_COLUMNS)
    assert table.schema.field("end_reason").type == pa.string()
    assert table.schema.field("queued_at").type == pa.string()
    assert table.schema.field("template").type == pa.int64()
    assert table.column("end_reason").null_count == CHUNK
    assert table.column("end_reason")[CHUNK].as_py() == "done"


def test_an_empty_export_still_has_the_declared_types() -> None:
    out = io.BytesIO()

    count = write_rows([], DECISION_SCHEMA, "parquet", out)

    schema = pq.read_schema(io.BytesIO(out.getvalue()))
    assert count == 0
    assert schema.names == list(DECISION_SCHEMA)
    assert schema.field("line").type == pa.int64()
    assert schema.field("process").type == pa.string()


def test_csv_writes_the_declared_columns_in_order() -> None:
    out = io.BytesIO()

    write_rows([_process(1, ended=True)], PROCESS_SCHEMA, "csv", out)

    header = out.getvalue().decode().splitlines()[0]
    assert header == ",".join(PROCESS_COLUMNS)
