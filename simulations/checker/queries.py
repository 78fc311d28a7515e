"""The ledger queries and descriptions the laws share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from projections.database import ReadDatabase
from simulations.checker.inforce import InForce, Span
from simulations.checker.spec import Violation


def within(spans: list[Span], column: str = "d.id") -> str:
    """SQL true for ids inside one of the spans (ids are integers, so inlined safely)."""
    return " OR ".join(f"({column} > {int(lo)} AND {column} < {int(hi)})" for lo, hi in spans)


def listed(values: Any) -> str:
    """An SQL list of this module's own constant names, e.g. `('bizproc', 'robot')`."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def of_module(module: str) -> str:
    """SQL true for decisions of a module's document types (no LIKE: `%` means more to psycopg)."""
    return f"substr(d.document_type, 1, {len(module) + 1}) = '{module}.'"


def missing(value: Any) -> bool:
    return value is None or value == ""


def module_of(document_type: str) -> str:
    return document_type.split(".", 1)[0]


def describe_decision(row: dict[str, Any]) -> str:
    return f"decision {row['id']} (template {row['template']}, line {row['line']})"


def describe_process(row: dict[str, Any]) -> str:
    return f"process {row['process']} (template {row['template']}, line {row['line']})"


def describe_outcome(row: dict[str, Any]) -> str:
    return f"{row['outcome']} as {row['process']} ({row['reason']})"


# A decision is made for its element's last change before it.
LAST_CHANGE = (
    "(SELECT x.id FROM changes x WHERE x.element = d.element AND x.id < d.id "
    "ORDER BY x.id DESC LIMIT 1)"
)
STARTING = "(d.outcome IN ('started', 'queued') OR d.process IS NOT NULL)"
DECISION_COLUMNS = (
    "d.id, d.line, d.depth, d.element, d.document_type, d.revision, d.trigger, d.channel, "
    "d.template, d.template_version, d.outcome, d.reason, d.process"
)


def starting(
    db: ReadDatabase, where: str, params: tuple[Any, ...] = ()
) -> Iterator[dict[str, Any]]:
    """Decisions that started or queued a process and match `where`, in ledger order."""
    return db.stream(
        f"SELECT {DECISION_COLUMNS} FROM decisions d WHERE {STARTING} AND ({where}) ORDER BY d.id",
        params,
    )


def starting_with_changes(db: ReadDatabase, where: str) -> Iterator[dict[str, Any]]:
    """Starting decisions matching `where`, in ledger order, with their change's op and values."""
    return db.stream(
        "SELECT d.*, c.op, c.fields, c.parameters FROM ("
        f"SELECT {DECISION_COLUMNS}, {LAST_CHANGE} AS change_id FROM decisions d "
        f"WHERE {STARTING} AND ({where})) d "
        "LEFT JOIN changes c ON c.id = d.change_id ORDER BY d.id"
    )


def starting_by_config(
    db: ReadDatabase, offends: Callable[[dict[str, Any], str], bool]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Starting decisions whose template configuration and trigger `offends`, with the config.

    Template versions are few: the (template, version, trigger) groups are checked once, and
    only the decisions of offending groups are read one by one.
    """
    configs = InForce.load(db).configs
    groups = db.query(
        "SELECT d.template, d.template_version, d.trigger FROM decisions d "
        f"WHERE {STARTING} GROUP BY d.template, d.template_version, d.trigger"
    )
    offending = [
        g
        for g in groups
        if (config := configs.get((int(g["template"]), int(g["template_version"])))) is not None
        and offends(config, g["trigger"])
    ]
    if not offending:
        return
    where = " OR ".join(
        f"(d.template = {int(g['template'])} AND d.template_version = "
        f"{int(g['template_version'])} AND d.trigger = ?)"
        for g in offending
    )
    for row in starting(db, where, tuple(g["trigger"] for g in offending)):
        yield row, configs[(int(row["template"]), int(row["template_version"]))]


def decided_against(law: str, row: dict[str, Any], expected: str) -> Violation:
    """The violation of a starting decision `row` that `law` says should have been `expected`."""
    return Violation(law, row["element"], describe_decision(row), expected, describe_outcome(row))


def skipped_against(law: str, row: dict[str, Any], expected: str) -> Violation:
    """The violation of a decision `row` whose outcome and reason `law` says are wrong."""
    happened = f"{row['outcome']}, {row['reason']}"
    return Violation(law, row["element"], describe_decision(row), expected, happened)
