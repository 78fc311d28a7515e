"""pandas frames of the read models for notebooks, with every SPEC category listed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from domain.application import AutostartApplication
from domain.stores import StoreAddress, parse_store
from domain.vocabulary import ALL_CHANNELS, Outcome, ProcessStatus, Reason, Trigger
from projections.database import ReadDatabase
from projections.queries import (
    DECISION_COLUMNS,
    PROCESS_COLUMNS,
    Filters,
    decision_rows,
    process_rows,
)
from projections.runner import catch_up
from projections.suggestions import fixes_column

PROCESS_STATUSES = tuple(status.value for status in ProcessStatus)
CATEGORIES: dict[str, list[str]] = {
    "trigger": [t.value for t in Trigger],
    "channel": sorted(ALL_CHANNELS),
    "outcome": [o.value for o in Outcome],
    "reason": [r.value for r in Reason],
    "status": list(PROCESS_STATUSES),
}

StoreLike = str | StoreAddress | ReadDatabase


@contextmanager
def _database(store: StoreLike, *, catch_up_first: bool) -> Iterator[ReadDatabase]:
    if isinstance(store, ReadDatabase):
        yield store
        return
    address = parse_store(store) if isinstance(store, str) else store
    db = ReadDatabase(address)
    try:
        if catch_up_first:
            app = AutostartApplication(address)
            try:
                catch_up(app, db)
            finally:
                app.close()
        yield db
    finally:
        db.close()


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    for column, categories in CATEGORIES.items():
        if column in frame:
            frame[column] = pd.Categorical(frame[column], categories=categories)
    return frame


def _times(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            # One unit for every time column: an all-empty column would otherwise be seconds.
            times = pd.to_datetime(frame[column], utc=True, format="ISO8601")
            frame[column] = times.dt.as_unit("us")
    return frame


def decisions_frame(
    store: StoreLike, *, catch_up_first: bool = True, fixes: bool = False, **filters: Any
) -> pd.DataFrame:
    """One row per decision, read from the ledger table (filters as in `Filters`).

    `at` is the decision time in UTC; `trigger`, `channel`, `outcome` and `reason` are
    categoricals listing every value of the SPEC, so zero counts still show. With `fixes`, a
    column `fixes`: for a process that did not start, the `whatif --set` changes `why`
    suggests (`|` between suggestions), or that no configuration starts it; None if started.
    """
    with _database(store, catch_up_first=catch_up_first) as db:
        chosen = Filters(**filters)
        rows = list(decision_rows(db, chosen))
        column = fixes_column(db, *chosen.where("at_utc")) if fixes else None
    frame = pd.DataFrame.from_records(rows, columns=[*DECISION_COLUMNS, "at_utc"])
    frame["at"] = frame.pop("at_utc")
    if column is not None:
        frame["fixes"] = pd.Series(column, index=frame.index, dtype="object")
    return _categorical(_times(frame, ("at",)))


def processes_frame(
    store: StoreLike, *, catch_up_first: bool = True, **filters: Any
) -> pd.DataFrame:
    """One row per started or queued process with its status and times (UTC).

    `wait_s` is how long it waited in the queue (0 when it started at once), `run_s` how long
    it ran (NaN while running or when it never started).
    """
    with _database(store, catch_up_first=catch_up_first) as db:
        rows = list(process_rows(db, Filters(**filters)))
    frame = pd.DataFrame.from_records(rows, columns=list(PROCESS_COLUMNS))
    frame = _times(frame, ("queued_at", "started_at", "ends_at", "ended_at"))
    decided = frame["queued_at"].fillna(frame["started_at"])
    frame["wait_s"] = (frame["started_at"] - decided).dt.total_seconds()
    finished = frame["status"] == "completed"
    frame["run_s"] = (frame["ended_at"] - frame["started_at"]).dt.total_seconds().where(finished)
    return _categorical(frame)
