"""Filtered, streamed reads of the ledger and process tables (exports and frames share them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.decisions import OUTPUT_COLUMNS
from projections.database import ReadDatabase
from projections.ledger import read_checks, utc


def _exported(columns: dict[str, type[int] | type[str]]) -> dict[str, type[int] | type[str]]:
    """The Decision record's columns, and the element's document type after the element."""
    schema: dict[str, type[int] | type[str]] = {}
    for name, kind in columns.items():
        schema[name] = kind
        if name == "element":
            schema["document_type"] = str
    return schema


# Each export's columns and their types, declared once: JSON Lines and CSV write these columns in
# this order, Parquet takes its schema from them (never inferred from the rows it happens to see).
# A decision's come from the Decision record's field list.
DECISION_SCHEMA = _exported(OUTPUT_COLUMNS)
PROCESS_SCHEMA: dict[str, type[int] | type[str]] = {
    "process": str,
    "element": str,
    "document_type": str,
    "template": int,
    "template_version": int,
    "line": int,
    "depth": int,
    "status": str,
    "queued_at": str,
    "started_at": str,
    "ends_at": str,
    "ended_at": str,
    "end_reason": str,
}
DECISION_COLUMNS = tuple(DECISION_SCHEMA)
PROCESS_COLUMNS = tuple(PROCESS_SCHEMA)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which rows to read; None means any. Times compare as instants, whatever the offset."""

    element: str | None = None
    document_type: str | None = None
    template: int | None = None
    channel: str | None = None
    outcome: str | None = None
    reason: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, time_column: str, *, process_table: bool = False) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        equal = {
            "element": self.element,
            "document_type": self.document_type,
            "template": self.template,
        }
        if not process_table:
            equal |= {"channel": self.channel, "outcome": self.outcome, "reason": self.reason}
        else:
            equal["status"] = self.status
        for column, value in equal.items():
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if process_table and (self.channel or self.outcome or self.reason):
            clauses.append(
                "decision IN (SELECT id FROM decisions WHERE "
                + " AND ".join(
                    f"{c} = ?"
                    for c, v in (
                        ("channel", self.channel),
                        ("outcome", self.outcome),
                        ("reason", self.reason),
                    )
                    if v is not None
                )
                + ")"
            )
            params.extend(v for v in (self.channel, self.outcome, self.reason) if v is not None)
        if self.since is not None:
            clauses.append(f"{time_column} >= ?")
            params.append(utc(self.since))
        if self.until is not None:
            clauses.append(f"{time_column} <= ?")
            params.append(utc(self.until))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def decision_rows(
    db: ReadDatabase, filters: Filters = Filters(), *, checks: bool = False
) -> Iterator[dict[str, Any]]:
    """Decisions in the order made, each a dict of DECISION_COLUMNS (and `checks` if asked).

    The checks come as `[[rule, values], ...]`, read from their compressed column.
    """
    where, params = filters.where("at_utc")
    columns = ", ".join((*DECISION_COLUMNS, "at_utc", *(("checks",) if checks else ())))
    rows = db.stream(f"SELECT {columns} FROM decisions{where} ORDER BY id", params)
    if not checks:
        return rows
    return ({**row, "checks": read_checks(row["checks"])} for row in rows)


def process_rows(db: ReadDatabase, filters: Filters = Filters()) -> Iterator[dict[str, Any]]:
    """Processes in the order they were decided, each a dict of PROCESS_COLUMNS."""
    where, params = filters.where("decided_utc", process_table=True)
    columns = ", ".join(PROCESS_COLUMNS)
    return db.stream(f"SELECT {columns} FROM processes{where} ORDER BY decision", params)


ELEMENT_KINDS = {
    "imported_then_edited": (
        "SELECT c.element FROM changes c JOIN changes e ON e.element = c.element "
        "WHERE c.op = 'create' AND c.channel = 'import' AND e.op = 'update' "
        "AND e.channel <> 'import' AND e.depth = 0 ORDER BY c.id LIMIT ?"
    ),
    "web_form_duplicate": (
        "SELECT element FROM changes WHERE op = 'update' AND channel = 'web_form' "
        "ORDER BY id LIMIT ?"
    ),
    "queued": "SELECT element FROM processes WHERE queued_at IS NOT NULL ORDER BY decision LIMIT ?",
    "cascade": "SELECT element FROM changes WHERE cause IS NOT NULL ORDER BY id LIMIT ?",
    "runaway": "SELECT element FROM halts ORDER BY id LIMIT ?",
}


def elements_with(db: ReadDatabase, kind: str, limit: int = 5) -> list[str]:
    """Elements whose history shows `kind` (one of ELEMENT_KINDS), earliest first."""
    seen: dict[str, None] = {}
    for row in db.query(ELEMENT_KINDS[kind], (limit * 20,)):
        seen.setdefault(row["element"])
        if len(seen) == limit:
            break
    return list(seen)
