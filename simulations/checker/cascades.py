"""Cascades: bounded, and every process-made decision caused by a process."""

from __future__ import annotations

from collections.abc import Iterator

from projections.database import ReadDatabase
from simulations.checker.queries import LAST_CHANGE, describe_decision
from simulations.checker.spec import Violation


def cascades_end_within_the_bound(db: ReadDatabase, max_depth: int) -> Iterator[Violation]:
    """No change is applied and no decision made deeper than the cascade bound."""
    for row in db.stream(
        "SELECT 'decision' AS kind, id, element, depth FROM decisions WHERE depth > ? "
        "UNION ALL SELECT 'change', id, element, depth FROM changes WHERE depth > ? ORDER BY 2",
        (max_depth, max_depth),
    ):
        yield Violation(
            "cascades_end_within_the_bound",
            row["element"],
            f"{row['kind']} {row['id']}",
            f"nothing deeper than {max_depth}",
            f"a {row['kind']} at depth {row['depth']}",
        )


def process_made_decisions_have_a_causing_process(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A decision deeper than 0 is of a change made by a process that had started, one above."""
    law = "process_made_decisions_have_a_causing_process"
    for row in db.stream(
        "SELECT d.*, c.depth AS change_depth, c.cause, c.channel AS change_channel, "
        "p.started_id, p.depth AS cause_depth FROM ("
        f"SELECT d.id, d.line, d.depth, d.element, d.template, {LAST_CHANGE} AS change_id "
        "FROM decisions d WHERE d.depth > 0) d "
        "LEFT JOIN changes c ON c.id = d.change_id "
        "LEFT JOIN processes p ON p.process = c.cause ORDER BY d.id"
    ):
        expected = f"a change at depth {row['depth']} made by a process started before it"
        if row["change_id"] is None or row["cause"] is None:
            happened = (
                "no change of the element before it"
                if row["change_id"] is None
                else (f"change {row['change_id']} (depth {row['change_depth']}) names no process")
            )
        elif row["started_id"] is None or row["started_id"] > row["change_id"]:
            happened = f"change {row['change_id']} names {row['cause']}, not started before it"
        elif row["cause_depth"] + 1 != row["depth"] or row["change_channel"] != "bizproc":
            happened = (
                f"change {row['change_id']} via {row['change_channel']} by {row['cause']} "
                f"at depth {row['cause_depth']}"
            )
        else:
            continue
        yield Violation(law, row["element"], describe_decision(row), expected, happened)
