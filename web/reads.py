"""Bounded reads for the pages: counts grouped in SQL, lists a page at a time."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from projections.database import ReadDatabase
from projections.ledger import utc
from projections.queries import DECISION_COLUMNS, Filters

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def overview(db: ReadDatabase, at: datetime | None) -> dict[str, Any]:
    """The store at a glance, as of `at`: decisions by outcome, reason, channel; processes."""
    until, params = _until("at_utc", at)
    by = db.query(
        f"SELECT outcome, reason, channel, COUNT(*) AS n FROM decisions{until} "
        "GROUP BY outcome, reason, channel ORDER BY outcome, reason, channel",
        params,
    )
    started, started_params = _until("decided_utc", at)
    processes = db.query(
        f"SELECT status, COUNT(*) AS n FROM processes{started} GROUP BY status ORDER BY status",
        started_params,
    )
    depth = db.query(
        "SELECT MAX(depth) AS deepest, SUM(CASE WHEN depth > 0 THEN 1 ELSE 0 END) AS made "
        f"FROM decisions{until}",
        params,
    )[0]
    halts = db.query(
        f"SELECT element, at, line, depth FROM halts{until} ORDER BY id LIMIT 20", params
    )
    depths = db.query(
        f"SELECT depth, COUNT(*) AS n FROM decisions{until} GROUP BY depth ORDER BY depth LIMIT 25",
        params,
    )
    # The report's "starts over time", a day a row (the day as the traffic's clock shows it).
    started_by = "started_at IS NOT NULL" + ("" if at is None else " AND decided_utc <= ?")
    days = db.query(
        "SELECT SUBSTR(started_at, 1, 10) AS day, COUNT(*) AS n FROM processes "
        f"WHERE {started_by} GROUP BY SUBSTR(started_at, 1, 10) ORDER BY day LIMIT 62",
        started_params,
    )
    outcomes: dict[str, int] = {}
    for row in by:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + int(row["n"])
    return {
        "decisions": sum(outcomes.values()),
        "outcomes": outcomes,
        "by": [dict(row, n=int(row["n"])) for row in by],
        "processes": {row["status"]: int(row["n"]) for row in processes},
        "deepest": int(depth["deepest"] or 0),
        "process_made": int(depth["made"] or 0),
        "halts": halts,
        "depths": [{"depth": int(r["depth"]), "n": int(r["n"])} for r in depths],
        "starts_by_day": [{"day": r["day"], "n": int(r["n"])} for r in days],
        "templates": db.query(
            "SELECT template, document_type, MAX(version) AS versions FROM templates "
            "GROUP BY template, document_type ORDER BY template"
        ),
    }


def _until(column: str, at: datetime | None) -> tuple[str, list[Any]]:
    return ("", []) if at is None else (f" WHERE {column} <= ?", [utc(at)])


def decisions_page(
    db: ReadDatabase, filters: Filters, after: int = 0, size: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of decisions after decision id `after`, and the id to continue after (or None).

    Keyset paging: a deep page costs what the first one does, however large the ledger.
    """
    where, params = filters.where("at_utc")
    where += (" AND" if where else " WHERE") + " id > ?"
    rows = db.query(
        f"SELECT id, {', '.join(DECISION_COLUMNS)} FROM decisions{where} ORDER BY id LIMIT ?",
        [*params, after, size + 1],
    )
    more = len(rows) > size
    rows = rows[:size]
    return rows, (int(rows[-1]["id"]) if more else None)


def template_history(db: ReadDatabase, template: int, at: datetime | None) -> list[dict[str, Any]]:
    """Every configuration version of the template (as of `at`): who changed what, when."""
    versions = []
    for row in db.query("SELECT * FROM templates WHERE template = ? ORDER BY version", (template,)):
        changed_at = row["changed_at"]
        if at is not None and changed_at and datetime.fromisoformat(changed_at) > at:
            break
        versions.append(
            {
                "version": row["version"],
                "document_type": row["document_type"],
                "config": json.loads(row["config"]),
                "changes": json.loads(row["changes"]),
                "changed_by": row["changed_by"],
                "changed_at": changed_at,
            }
        )
    return versions


def template_decisions(
    db: ReadDatabase, template: int, at: datetime | None
) -> list[dict[str, Any]]:
    """The template's decisions by channel, outcome and reason, each with an example element."""
    until = "" if at is None else " AND at_utc <= ?"
    params: list[Any] = [template] + ([] if at is None else [utc(at)])
    rows = db.query(
        "SELECT channel, outcome, reason, COUNT(*) AS n, MIN(element) AS example "
        f"FROM decisions WHERE template = ?{until} GROUP BY channel, outcome, reason "
        "ORDER BY channel, outcome, reason",
        params,
    )
    return [dict(row, n=int(row["n"])) for row in rows]
