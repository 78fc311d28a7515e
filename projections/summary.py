"""A run's totals from the ledger: decisions by outcome, reason and channel; processes; cascades."""

from __future__ import annotations

import json
from typing import Any

from projections.database import ReadDatabase


def summarize(db: ReadDatabase) -> dict[str, Any]:
    """Counts straight from the read-model tables (grouped in SQL, never row by row)."""
    decisions = db.query(
        "SELECT outcome, reason, channel, COUNT(*) AS n FROM decisions "
        "GROUP BY outcome, reason, channel ORDER BY outcome, reason, channel"
    )
    processes = db.query(
        "SELECT status, COUNT(*) AS n FROM processes GROUP BY status ORDER BY status"
    )
    depth = db.query(
        "SELECT MAX(depth) AS deepest, SUM(CASE WHEN depth > 0 THEN 1 ELSE 0 END) AS made "
        "FROM decisions"
    )[0]
    halts = db.query("SELECT element, at, line, depth, chain FROM halts ORDER BY id")
    return {
        "decisions": sum(int(row["n"]) for row in decisions),
        "by_outcome_reason_channel": [
            {key: row[key] for key in ("outcome", "reason", "channel")} | {"count": int(row["n"])}
            for row in decisions
        ],
        "processes": {row["status"]: int(row["n"]) for row in processes},
        "cascades": {
            "deepest": int(depth["deepest"] or 0),
            "process_made_decisions": int(depth["made"] or 0),
            "runaways": [
                {
                    "element": row["element"],
                    "at": row["at"],
                    "line": row["line"],
                    "depth": row["depth"],
                    "chain": json.loads(row["chain"]),
                }
                for row in halts
            ],
        },
    }
