"""The read-model tables, in SQL that SQLite and PostgreSQL both take."""

from __future__ import annotations

from domain.decisions import NULLABLE_COLUMNS, OUTPUT_COLUMNS

_SQL_TYPES = {int: "INTEGER", str: "TEXT"}
# The ledger's own decision columns, each after the Decision record's column it belongs with.
_LEDGER_DECISION_COLUMNS = {
    "at": ("at_utc TEXT NOT NULL",),
    "element": ("document_type TEXT NOT NULL", "revision INTEGER NOT NULL"),
}


def _decision_columns() -> list[str]:
    """The Decision record's columns in SQL, with the ledger's own beside them."""
    columns = ["id BIGINT PRIMARY KEY"]
    for name, kind in OUTPUT_COLUMNS.items():
        null = "" if name in NULLABLE_COLUMNS else " NOT NULL"
        columns.append(f"{name} {_SQL_TYPES[kind]}{null}")
        columns.extend(_LEDGER_DECISION_COLUMNS.get(name, ()))
    # Compressed JSON (`projections.ledger.read_checks`); BYTEA is a BLOB to SQLite too.
    return [*columns, "checks BYTEA NOT NULL"]


DECISIONS_TABLE = f"CREATE TABLE IF NOT EXISTS decisions ( {', '.join(_decision_columns())})"

# The read models' positions: not `tracking`, the table the event library's process recorders
# keep, with another schema, in the same database.
POSITIONS = "read_model_positions"
TABLES = (
    POSITIONS,
    "elements",
    "changes",
    "decisions",
    "processes",
    "templates",
    "settings",
    "halts",
)

STATEMENTS = (
    f"CREATE TABLE IF NOT EXISTS {POSITIONS} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS elements ("
    " stream TEXT PRIMARY KEY, element TEXT NOT NULL, document_type TEXT NOT NULL,"
    " number BIGINT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS elements_by_name ON elements (element)",
    "CREATE INDEX IF NOT EXISTS elements_by_type ON elements (document_type, number)",
    "CREATE TABLE IF NOT EXISTS changes ("
    " id BIGINT PRIMARY KEY, element TEXT NOT NULL, document_type TEXT NOT NULL,"
    " revision INTEGER NOT NULL, op TEXT NOT NULL, at TEXT NOT NULL, at_utc TEXT NOT NULL,"
    " line INTEGER NOT NULL, depth INTEGER NOT NULL, channel TEXT, actor TEXT,"
    " fields TEXT NOT NULL, parameters TEXT NOT NULL, cause TEXT)",
    "CREATE INDEX IF NOT EXISTS changes_by_element ON changes (element, id)",
    "CREATE INDEX IF NOT EXISTS changes_by_cause ON changes (cause)",
    DECISIONS_TABLE,
    "CREATE INDEX IF NOT EXISTS decisions_by_element ON decisions (element, id)",
    "CREATE INDEX IF NOT EXISTS decisions_by_template ON decisions (template, id)",
    "CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (at_utc)",
    "CREATE TABLE IF NOT EXISTS processes ("
    " process TEXT PRIMARY KEY, element TEXT NOT NULL, document_type TEXT NOT NULL,"
    " template INTEGER NOT NULL, template_version INTEGER NOT NULL, line INTEGER NOT NULL,"
    " depth INTEGER NOT NULL, decision BIGINT NOT NULL, status TEXT NOT NULL,"
    " queued_at TEXT, started_at TEXT, ends_at TEXT, ended_at TEXT, end_reason TEXT,"
    " decided_utc TEXT NOT NULL, started_id BIGINT, ended_id BIGINT)",
    "CREATE INDEX IF NOT EXISTS processes_by_element ON processes (element)",
    "CREATE TABLE IF NOT EXISTS templates ("
    " template INTEGER NOT NULL, version INTEGER NOT NULL, id BIGINT NOT NULL,"
    " document_type TEXT NOT NULL, config TEXT NOT NULL, changes TEXT NOT NULL,"
    " changed_by TEXT, changed_at TEXT, PRIMARY KEY (template, version))",
    "CREATE TABLE IF NOT EXISTS settings ("
    " id BIGINT PRIMARY KEY, kind TEXT NOT NULL, at TEXT NOT NULL, line INTEGER NOT NULL,"
    " actor TEXT, subject TEXT, changes TEXT NOT NULL, settings TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS halts ("
    " id BIGINT PRIMARY KEY, element TEXT NOT NULL, at TEXT NOT NULL, at_utc TEXT NOT NULL,"
    " line INTEGER NOT NULL, depth INTEGER NOT NULL, chain TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS halts_by_element ON halts (element)",
)
