"""The simultaneous limit, the queue and deletions, on the processes' event ids."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from projections.database import ReadDatabase
from simulations.checker.inforce import InForce
from simulations.checker.queries import describe_process
from simulations.checker.spec import (
    BACKGROUND_CHANNELS,
    DOCUMENT_DELETED,
    LAST_ID,
    NEVER,
    Violation,
)


def never_more_running_than_the_limit(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """At each start (bar on-premise background ones) fewer than the limit run on the document."""
    # Background: calls, web forms and open-line changes; e-mail and open-line adds start at once.
    in_force = InForce.load(db)
    element: str | None = None
    running: list[float] = []  # the ended ids (NEVER while running) of the earlier starts
    for row in db.stream(
        "SELECT p.process, p.element, p.template, p.line, p.started_id, p.ended_id, d.channel, "
        "d.trigger "
        "FROM processes p JOIN decisions d ON d.id = p.decision "
        "WHERE p.started_id IS NOT NULL ORDER BY p.element, p.started_id"
    ):
        if row["element"] != element:
            element, running = row["element"], []
        started = int(row["started_id"])
        while running and running[0] < started:
            heapq.heappop(running)
        settings = in_force.settings(started)
        limit = int(settings["limit_simultaneous_processes"])
        background = (
            settings["edition"] == "on_premise"
            and row["channel"] in BACKGROUND_CHANNELS[row["trigger"]]
        )
        if limit and not background and len(running) >= limit:
            yield Violation(
                "never_more_running_than_the_limit",
                row["element"],
                f"{describe_process(row)} started at event {started}",
                f"fewer than {limit} running on the document at its start",
                f"{len(running)} already running",
            )
        ended = row["ended_id"]
        heapq.heappush(running, NEVER if ended is None else int(ended))


def queued_instances_start_first_in_first_out(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A document's queued instances leave the queue in the order they were queued."""
    element: str | None = None
    ahead, ahead_process = 0.0, ""  # the queued-before instance that left the queue last
    for row in db.stream(
        "SELECT process, element, template, line, decision, status, started_id, ended_id "
        "FROM processes WHERE queued_at IS NOT NULL ORDER BY element, decision"
    ):
        if row["element"] != element:
            element, ahead, ahead_process = row["element"], 0.0, ""
        started = row["started_id"]
        if started is not None and ahead > started:
            yield Violation(
                "queued_instances_start_first_in_first_out",
                row["element"],
                f"{describe_process(row)} started at event {started}",
                f"{ahead_process}, queued before it, to start first",
                "it started while "
                + ahead_process
                + (" was still queued" if ahead == NEVER else f" waited until event {int(ahead)}"),
            )
        left = started if started is not None else row["ended_id"]
        left_at = NEVER if left is None else float(left)
        if left_at > ahead:
            ahead, ahead_process = left_at, str(row["process"])


def every_queued_instance_is_started_or_accounted_for(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """A queued instance starts, is dropped when its document is deleted, or waits at the limit."""
    law = "every_queued_instance_is_started_or_accounted_for"
    in_force = InForce.load(db)
    end = in_force.settings(LAST_ID)
    limit = int(end["limit_simultaneous_processes"])
    for row in db.stream(
        "SELECT q.process, q.element, q.template, q.line, q.status, q.ended_id, q.end_reason, "
        "(SELECT COUNT(*) FROM processes r WHERE r.element = q.element "
        "AND r.status = 'running') AS running, "
        "(SELECT MIN(c.id) FROM changes c WHERE c.element = q.element AND c.op = 'delete') "
        "AS deleted, "
        "(SELECT MIN(c.id) FROM changes c WHERE c.element = q.element AND c.id > q.ended_id) "
        "AS next_change "
        "FROM processes q WHERE q.queued_at IS NOT NULL AND q.started_id IS NULL "
        "ORDER BY q.decision"
    ):
        event = describe_process(row)
        if row["status"] == "queued":
            if row["deleted"] is not None:
                yield Violation(
                    law,
                    row["element"],
                    event,
                    f"dropped, {DOCUMENT_DELETED}, when the document was deleted",
                    f"still queued after the delete at event {row['deleted']}",
                )
            elif not limit or row["running"] < limit:
                yield Violation(
                    law,
                    row["element"],
                    event,
                    "started once a slot was free"
                    + (f" (limit {limit})" if limit else " (no limit in force)"),
                    f"still queued at the end with {row['running']} running",
                )
        elif row["status"] == "dropped":
            deleting = row["next_change"] is not None and row["next_change"] == row["deleted"]
            if row["end_reason"] != DOCUMENT_DELETED or not deleting:
                yield Violation(
                    law,
                    row["element"],
                    f"{event} dropped at event {row['ended_id']}",
                    f"dropped only with {DOCUMENT_DELETED}, when its document is deleted",
                    f"dropped with {row['end_reason']}"
                    + ("" if deleting else ", with no delete of the document next"),
                )
        else:
            yield Violation(
                law,
                row["element"],
                event,
                "started, dropped, or still queued",
                f"{row['status']} without having started",
            )


def nothing_runs_or_waits_on_a_deleted_document(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """After a delete, none of the document's processes is running or queued."""
    for row in db.stream(
        "SELECT c.id AS deleted, p.process, p.element, p.template, p.line, p.status, p.ended_id "
        "FROM changes c JOIN processes p ON p.element = c.element "
        "WHERE c.op = 'delete' AND (p.ended_id IS NULL OR p.ended_id > c.id) "
        "ORDER BY c.id, p.decision"
    ):
        yield Violation(
            "nothing_runs_or_waits_on_a_deleted_document",
            row["element"],
            describe_process(row),
            f"terminated or dropped ({DOCUMENT_DELETED}) by the delete at event {row['deleted']}",
            f"{row['status']}"
            + ("" if row["ended_id"] is None else f" until event {row['ended_id']}"),
        )
