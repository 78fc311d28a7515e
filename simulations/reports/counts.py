"""What the report draws, aggregated in SQL or streamed, so a big store never sits in memory."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pandas as pd

from projections.database import ReadDatabase
from projections.frames import CATEGORIES


def decision_counts(db: ReadDatabase) -> pd.DataFrame:
    """Decisions counted by channel, outcome, reason and depth (`n`), with SPEC categories."""
    columns = ["channel", "outcome", "reason", "depth", "n"]
    rows = db.query(
        "SELECT channel, outcome, reason, depth, COUNT(*) AS n FROM decisions "
        "GROUP BY channel, outcome, reason, depth"
    )
    return _categorical(pd.DataFrame.from_records(rows, columns=columns))


def start_counts(db: ReadDatabase) -> pd.DataFrame:
    """Processes started per template and UTC hour (`started_at` is the hour, `n` the count)."""
    counts: Counter[tuple[int, str, datetime]] = Counter()
    for row in db.stream(
        "SELECT template, document_type, started_at FROM processes WHERE started_at IS NOT NULL"
    ):
        at = datetime.fromisoformat(row["started_at"]).astimezone(UTC)
        counts[(int(row["template"]), row["document_type"], _hour(at))] += 1
    frame = pd.DataFrame.from_records(
        [(*key, n) for key, n in counts.items()],
        columns=["template", "document_type", "started_at", "n"],
    )
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    return frame


def queued_processes(db: ReadDatabase) -> pd.DataFrame:
    """Every process that waited in a queue, with UTC times and `wait_s` (NaN if never started)."""
    columns = ["element", "document_type", "template", "status"]
    times = ["queued_at", "started_at", "ended_at"]
    rows = db.query(
        f"SELECT {', '.join(columns + times)} FROM processes "
        "WHERE queued_at IS NOT NULL ORDER BY decision"
    )
    frame = pd.DataFrame.from_records(rows, columns=columns + times)
    for column in times:
        # one unit for every column: an all-null column parses as seconds, the rest as µs
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").dt.as_unit("us")
    frame["wait_s"] = (frame["started_at"] - frame["queued_at"]).dt.total_seconds()
    return _categorical(frame)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    for column, categories in CATEGORIES.items():
        if column in frame:
            frame[column] = pd.Categorical(frame[column], categories=categories)
    return frame
