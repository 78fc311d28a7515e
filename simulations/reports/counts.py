"""What the report draws, aggregated in SQL or streamed, so a big store never sits in memory."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timezone

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


def traffic_offset(db: ReadDatabase) -> timezone:
    """The UTC offset the traffic's times are written in (its first timed line's); UTC if none."""
    rows = db.query("SELECT at FROM changes ORDER BY id LIMIT 1")
    offset = datetime.fromisoformat(rows[0]["at"]).utcoffset() if rows else None
    return timezone(offset) if offset else UTC


def in_offset(times: pd.Series, offset: timezone) -> pd.Series:
    """Times (ISO-8601 strings or datetimes) as instants shown in `offset`."""
    parsed = pd.to_datetime(times, utc=True, format="ISO8601").dt.as_unit("us")
    return parsed.dt.tz_convert(offset)


def start_counts(db: ReadDatabase) -> pd.DataFrame:
    """Processes started per template and hour (`started_at` is the hour, `n` the count).

    Hours are the traffic's own (its UTC offset), as `why` and the traffic show times.
    """
    offset = traffic_offset(db)
    counts: Counter[tuple[int, str, datetime]] = Counter()
    for row in db.stream(
        "SELECT template, document_type, started_at FROM processes WHERE started_at IS NOT NULL"
    ):
        at = datetime.fromisoformat(row["started_at"]).astimezone(offset)
        counts[(int(row["template"]), row["document_type"], _hour(at))] += 1
    frame = pd.DataFrame.from_records(
        [(*key, n) for key, n in counts.items()],
        columns=["template", "document_type", "started_at", "n"],
    )
    frame["started_at"] = in_offset(frame["started_at"], offset)
    return frame


def setting_changes(db: ReadDatabase) -> pd.DataFrame:
    """Timed portal and template changes (`at` in the traffic's offset, `label` what changed)."""
    offset = traffic_offset(db)
    rows = [
        (
            row["at"],
            "portal " + ", ".join(f"{k}={v}" for k, v in json.loads(row["changes"]).items()),
        )
        for row in db.query("SELECT at, changes FROM settings WHERE kind = 'portal' ORDER BY id")
        if not row["at"].startswith("1970-")
    ]
    rows += [
        (row["changed_at"], f"template {row['template']} " + ", ".join(json.loads(row["changes"])))
        for row in db.query(
            "SELECT template, changed_at, changes FROM templates "
            "WHERE version > 1 AND changed_at IS NOT NULL ORDER BY id"
        )
    ]
    frame = pd.DataFrame.from_records(rows, columns=["at", "label"])
    frame["at"] = in_offset(frame["at"], offset)
    return frame.sort_values("at", kind="stable", ignore_index=True)


def queued_processes(db: ReadDatabase) -> pd.DataFrame:
    """Every process that waited in a queue: times in the traffic's offset, `wait_s` (NaN if
    it never started)."""
    columns = ["element", "document_type", "template", "status"]
    times = ["queued_at", "started_at", "ended_at"]
    rows = db.query(
        f"SELECT {', '.join(columns + times)} FROM processes "
        "WHERE queued_at IS NOT NULL ORDER BY decision"
    )
    frame = pd.DataFrame.from_records(rows, columns=columns + times)
    offset = traffic_offset(db)
    for column in times:
        # one unit for every column: an all-null column parses as seconds, the rest as µs
        frame[column] = in_offset(frame[column], offset)
    frame["wait_s"] = (frame["started_at"] - frame["queued_at"]).dt.total_seconds()
    return _categorical(frame)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    for column, categories in CATEGORIES.items():
        if column in frame:
            frame[column] = pd.Categorical(frame[column], categories=categories)
    return frame
