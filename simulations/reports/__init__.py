"""Report figures and a Markdown summary: outcomes, starts, exclusions, queues, cascades."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.frames import StoreLike
from projections.runner import catch_up
from projections.summary import summarize
from simulations.replay import open_store
from simulations.reports.counts import (
    decision_counts,
    queued_processes,
    setting_changes,
    start_counts,
)
from simulations.reports.figures import (
    cascade_depths,
    decisions_by_channel,
    exclusion_matrix,
    queue_lengths,
    starts_over_time,
    waiting_times,
)
from simulations.reports.summary import render_summary

__all__ = [
    "FIGURES",
    "cascade_depths",
    "decision_counts",
    "decisions_by_channel",
    "exclusion_matrix",
    "queue_lengths",
    "queued_frame",
    "queued_processes",
    "render_summary",
    "setting_changes",
    "start_counts",
    "starts_over_time",
    "waiting_times",
    "write_report",
]

Drawing = Callable[[], Figure]
FIGURES = {
    "decisions_by_channel.png": "Decisions by channel and outcome",
    "exclusion_matrix.png": "Skipped and rejected decisions: channel by reason",
    "starts_over_time.png": "Processes started over time",
    "queue_lengths.png": "Queue lengths over time",
    "waiting_times.png": "Waiting times of queued processes",
    "cascade_depths.png": "Cascade depths",
}


def write_report(store_or_db: StoreLike, out_dir: str | Path) -> Path:
    """Writes one PNG per figure and `summary.md` linking them into `out_dir`; returns its path.

    A store address is caught up first; a `ReadDatabase` is read as it is. Only aggregates and
    the queued processes are loaded, so memory stays small for big stores.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _database(store_or_db) as db:
        decisions = decision_counts(db)
        starts = start_counts(db)
        changes = setting_changes(db)
        queued = queued_processes(db)
        summary = summarize(db)
        where = db.store.describe()
    runaways = len(summary["cascades"]["runaways"])
    drawings: dict[str, Drawing] = {
        "decisions_by_channel.png": lambda: decisions_by_channel(decisions),
        "exclusion_matrix.png": lambda: exclusion_matrix(decisions),
        "starts_over_time.png": lambda: starts_over_time(starts, changes),
        "queue_lengths.png": lambda: queue_lengths(queued),
        "waiting_times.png": lambda: waiting_times(queued),
        "cascade_depths.png": lambda: cascade_depths(decisions, runaways),
    }
    for name in FIGURES:
        fig = drawings[name]()
        try:
            fig.savefig(out / name, dpi=100)
        finally:
            plt.close(fig)  # one figure open at a time, none left behind
    links = {name: f"![{alt}]({name})" for name, alt in FIGURES.items()}
    path = out / "summary.md"
    path.write_text(render_summary(summary, queued, where, links), encoding="utf-8")
    return path


def queued_frame(store: StoreLike) -> pd.DataFrame:
    """The queued processes of `queued_processes`, from a store address or a read database."""
    with _database(store) as db:
        return queued_processes(db)


@contextmanager
def _database(store: StoreLike) -> Iterator[ReadDatabase]:
    if isinstance(store, ReadDatabase):
        yield store
        return
    address = parse_store(store) if isinstance(store, str) else store
    app = open_store(address)
    db = ReadDatabase(address)
    try:
        catch_up(app, db)
        yield db
    finally:
        db.close()
        app.close()
