"""Report figures and a Markdown summary: outcomes, starts, exclusions, queues, cascades."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.frames import CATEGORIES, StoreLike
from projections.runner import catch_up
from projections.summary import summarize
from simulations.replay import open_store

OUTCOME_COLOURS = {
    "started": "#2a9d5c",
    "queued": "#e9a23b",
    "rejected": "#d1495b",
    "skipped": "#9aa5b1",
}
EXCLUDED = ("skipped", "rejected")
TOP_TEMPLATES = 8
TOP_QUEUES = 5
HOURLY_UP_TO = pd.Timedelta(days=3)
P = ParamSpec("P")
LOG_SCALE_ABOVE = 100  # largest / smallest non-zero bar beyond which a linear axis hides bars

# ---- aggregates read in SQL or streamed, so a big store never sits in memory ----


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


def _concise_dates(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Dates on the axes labelled compactly, without changing matplotlib's global settings."""

    @wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with plt.rc_context({"date.converter": "concise"}):
            return draw(*args, **kwargs)

    return drawn


# ---- figures: each takes one row per item (a `*_frame`) or counted rows with an `n` column ----


def decisions_by_channel(decisions: pd.DataFrame) -> Figure:
    """Stacked bars: decisions per channel by outcome (channels without decisions left out)."""
    table = _table(decisions, "channel", "outcome")
    table = table.loc[table.sum(axis=1) > 0]
    table = table.loc[table.sum(axis=1).sort_values(kind="stable").index]
    fig, ax = plt.subplots(figsize=(9, 1.8 + 0.32 * max(len(table), 3)), layout="constrained")
    title = "Decisions by channel and outcome"
    if table.empty:
        return _no_data(fig, ax, title)
    left = np.zeros(len(table))
    for outcome in CATEGORIES["outcome"]:
        widths = table[outcome].to_numpy(dtype=float)
        ax.barh(table.index, widths, left=left, color=OUTCOME_COLOURS[outcome], label=outcome)
        left += widths
    for y, total in enumerate(left):
        ax.annotate(
            f"{total:,.0f}", (total, y), xytext=(3, 0), textcoords="offset points", va="center"
        )
    ax.set_xlim(0, left.max() * 1.12)
    ax.set_title(f"{title} ({left.sum():,.0f} decisions)")
    ax.set_xlabel("decisions")
    ax.set_ylabel("channel")
    ax.legend(title="outcome", loc="lower right")
    return fig


def exclusion_matrix(decisions: pd.DataFrame) -> Figure:
    """Heatmap of skipped and rejected decisions: channel by reason, counts in the cells."""
    excluded = decisions.loc[decisions["outcome"].isin(EXCLUDED)]
    table = _table(excluded, "channel", "reason")
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    fig, ax = plt.subplots(
        figsize=(3.5 + 0.75 * max(table.shape[1], 4), 2.6 + 0.38 * max(table.shape[0], 3)),
        layout="constrained",
    )
    title = "Why templates did not start: channel by reason (skipped and rejected)"
    if table.empty:
        return _no_data(fig, ax, title)
    counts = table.to_numpy(dtype=float)
    norm = LogNorm(vmin=1, vmax=max(counts.max(), 2))
    image = ax.imshow(np.ma.masked_equal(counts, 0), cmap="viridis", norm=norm, aspect="auto")
    for (row, column), count in np.ndenumerate(counts):
        if count:
            dark = norm(count) < 0.6
            ax.text(
                column,
                row,
                f"{count:,.0f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(table.shape[1]), list(table.columns), rotation=40, ha="right")
    ax.set_yticks(range(table.shape[0]), list(table.index))
    ax.set_xlabel("reason")
    ax.set_ylabel("channel")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="decisions (log scale)")
    return fig


@_concise_dates
def starts_over_time(processes: pd.DataFrame) -> Figure:
    """Processes started per hour (per day past three days), one line per template."""
    started = processes.loc[processes["started_at"].notna()]
    fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
    title = "Processes started over time, per template"
    if started.empty:
        return _no_data(fig, ax, title)
    times = _utc_naive(started["started_at"])
    hourly = times.max() - times.min() <= HOURLY_UP_TO
    freq, unit = ("h", "hour") if hourly else ("D", "day")
    counted = pd.DataFrame(
        {
            "bucket": times.dt.floor(freq),
            "template": _template_labels(started),
            "n": _weights(started),
        }
    )
    table = counted.pivot_table(
        index="bucket", columns="template", values="n", aggfunc="sum", fill_value=0
    )
    table = table.reindex(
        pd.date_range(table.index.min(), table.index.max(), freq=freq), fill_value=0
    )
    order = table.sum().sort_values(ascending=False, kind="stable").index
    if len(order) > TOP_TEMPLATES:
        kept, rest = list(order[: TOP_TEMPLATES - 1]), list(order[TOP_TEMPLATES - 1 :])
        table = table[kept].assign(**{f"{len(rest)} other templates": table[rest].sum(axis=1)})
    else:
        table = table[list(order)]
    marker = "o" if len(table) <= 30 else None
    for label in table.columns:
        ax.plot(table.index, table[label], marker=marker, markersize=3, label=str(label))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"processes started per {unit}")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{title} ({table.to_numpy().sum():,.0f} started)")
    ax.legend(title="template", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


@_concise_dates
def queue_lengths(processes: pd.DataFrame, *, top: int = TOP_QUEUES) -> Figure:
    """Processes waiting over time: all documents, and the documents with the longest queues."""
    queued = processes.loc[processes["queued_at"].notna()]
    title = "Queue lengths over time"
    if queued.empty:
        fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
        return _no_data(fig, ax, title)
    fig, axs = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, layout="constrained")
    moves = _queue_moves(queued)
    overall = moves.groupby("at")["move"].sum().cumsum()
    axs[0].step(overall.index, overall.to_numpy(), where="post", color="#e9a23b")
    axs[0].set_title(f"{title}: all documents ({len(queued):,} processes queued)")
    per_document = moves.groupby(["element", "at"])["move"].sum().groupby(level=0).cumsum()
    peaks = per_document.groupby(level=0).max().sort_values(ascending=False, kind="stable")
    for element in peaks.index[:top]:
        steps = per_document.loc[element]
        axs[1].step(steps.index, steps.to_numpy(), where="post", label=f"{element}")
    shown = min(top, len(peaks))
    axs[1].set_title(f"The {shown} documents with the longest queues (of {len(peaks):,})")
    axs[1].legend(title="document", loc="upper left", bbox_to_anchor=(1.01, 1))
    for ax in axs:
        ax.set_ylabel("processes waiting")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axs[1].set_xlabel("time (UTC)")
    return fig


def waiting_times(processes: pd.DataFrame) -> Figure:
    """Histogram of how long queued processes waited before they started."""
    queued = processes.loc[processes["queued_at"].notna()]
    waits = _waits(queued).dropna()
    never = len(queued) - len(waits)
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    title = "Waiting times of queued processes"
    if waits.empty:
        return _no_data(fig, ax, title + (f" ({never:,} never started)" if never else ""))
    scale, unit = _time_unit(float(waits.max()))
    values = waits.to_numpy(dtype=float) / scale
    ax.hist(values, bins=min(40, max(5, len(values) // 5)), color="#e9a23b", edgecolor="white")
    median = float(np.median(values))
    ax.axvline(median, color="black", linestyle="--", label=f"median {median:.3g} {unit}")
    ax.set_xlabel(f"wait before starting ({unit})")
    ax.set_ylabel("processes")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{title} ({len(waits):,} started after waiting, {never:,} never started)")
    ax.legend(loc="upper right")
    return fig


def cascade_depths(decisions: pd.DataFrame, runaways: int = 0) -> Figure:
    """Decisions per cascade depth (0 = a traffic line), log scale when needed; runaways noted."""
    counted = pd.DataFrame({"depth": decisions["depth"], "n": _weights(decisions)})
    by_depth = counted.groupby("depth")["n"].sum()
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    title = f"Cascade depths ({runaways:,} runaway{'s' if runaways != 1 else ''} stopped)"
    if by_depth.sum() == 0:
        return _no_data(fig, ax, title)
    by_depth = by_depth.reindex(range(int(by_depth.index.max()) + 1), fill_value=0)
    heights = by_depth.to_numpy(dtype=float)
    ax.bar(by_depth.index, heights, color="#457b9d", label="decisions")
    if runaways:
        stopped = len(heights)
        ax.bar([stopped], [runaways], color="#d1495b", label=f"runaways stopped at depth {stopped}")
        ax.legend(loc="upper center")
    if heights.max() / heights[heights > 0].min() > LOG_SCALE_ABOVE:
        ax.set_yscale("log")
        ax.set_ylabel("decisions (log scale)")
    else:
        ax.set_ylabel("decisions")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("depth (0 = a traffic line, 1 and more = made by a process)")
    ax.set_title(title)
    made = heights[1:].sum()
    ax.text(
        0.98,
        0.95,
        f"deepest {len(heights) - 1}\n{made:,.0f} process-made decisions\n{runaways:,} runaways",
        transform=ax.transAxes,
        ha="right",
        va="top",
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#cccccc"},
    )
    return fig


def _no_data(fig: Figure, ax: Axes, title: str) -> Figure:
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=16, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def _weights(frame: pd.DataFrame) -> pd.Series:
    if "n" in frame:
        return frame["n"].astype(int)
    return pd.Series(1, index=frame.index, dtype=int)


def _table(frame: pd.DataFrame, index: str, columns: str) -> pd.DataFrame:
    """Counts of `index` by `columns`, every SPEC category present (zeros included)."""
    counted = pd.DataFrame(
        {
            index: pd.Categorical(frame[index], categories=CATEGORIES[index]),
            columns: pd.Categorical(frame[columns], categories=CATEGORIES[columns]),
            "n": _weights(frame),
        }
    )
    table = counted.pivot_table(
        index=index, columns=columns, values="n", aggfunc="sum", fill_value=0, observed=False
    )
    table = table.reindex(index=CATEGORIES[index], columns=CATEGORIES[columns], fill_value=0)
    return table.astype(int)


def _utc_naive(times: pd.Series) -> pd.Series:
    """UTC wall-clock times without a zone: what matplotlib's date axis expects."""
    return pd.to_datetime(times, utc=True).dt.tz_localize(None).dt.as_unit("us")


def _template_labels(processes: pd.DataFrame) -> pd.Series:
    labels = "template " + processes["template"].astype(int).astype(str)
    if "document_type" in processes:
        labels = labels + " (" + processes["document_type"].astype(str) + ")"
    return labels


def _queue_moves(queued: pd.DataFrame) -> pd.DataFrame:
    """+1 when a process joins its document's queue, -1 when it starts or is dropped."""
    left = _utc_naive(queued["started_at"]).fillna(_utc_naive(queued["ended_at"]))
    joins = pd.DataFrame({"element": queued["element"], "at": _utc_naive(queued["queued_at"])})
    leaves = pd.DataFrame({"element": queued["element"], "at": left})
    moves = pd.concat(
        [joins.assign(move=1), leaves.loc[leaves["at"].notna()].assign(move=-1)],
        ignore_index=True,
    )
    moves["element"] = moves["element"].astype(str)
    return moves.sort_values(["at", "move"], kind="stable")


def _waits(queued: pd.DataFrame) -> pd.Series:
    if "wait_s" in queued:
        return queued["wait_s"].astype(float)
    waited = _utc_naive(queued["started_at"]) - _utc_naive(queued["queued_at"])
    return waited.dt.total_seconds()


def _time_unit(longest_s: float) -> tuple[float, str]:
    if longest_s < 120:
        return 1.0, "s"
    if longest_s < 2 * 3600:
        return 60.0, "min"
    if longest_s < 2 * 86400:
        return 3600.0, "h"
    return 86400.0, "days"


# ---- the report: figures on disk and a summary that links them ----

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
        queued = queued_processes(db)
        summary = summarize(db)
        where = db.store.describe()
    runaways = len(summary["cascades"]["runaways"])
    drawings: dict[str, Drawing] = {
        "decisions_by_channel.png": lambda: decisions_by_channel(decisions),
        "exclusion_matrix.png": lambda: exclusion_matrix(decisions),
        "starts_over_time.png": lambda: starts_over_time(starts),
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


def render_summary(
    summary: dict[str, Any], queued: pd.DataFrame, where: str, links: dict[str, str]
) -> str:
    """The headline numbers as Markdown, each section followed by its figures."""
    by_outcome: Counter[str] = Counter()
    by_reason: Counter[tuple[str, str]] = Counter()
    for row in summary["by_outcome_reason_channel"]:
        by_outcome[row["outcome"]] += row["count"]
        by_reason[(row["reason"], row["outcome"])] += row["count"]
    total = summary["decisions"]
    processes = summary["processes"]
    cascades = summary["cascades"]
    lines = [
        "# Auto-start report",
        "",
        f"{where}: {total} decisions, {sum(processes.values())} processes, "
        f"{len(cascades['runaways'])} runaway cascades.",
        "",
        "## Decisions by outcome",
        "",
        "| outcome | decisions |",
        "|:--|--:|",
        *(f"| {o} | {by_outcome[o]} |" for o in CATEGORIES["outcome"]),
        f"| total | {total} |",
        "",
        links["decisions_by_channel.png"],
        "",
        "## Top reasons",
        "",
        *_reason_lines(by_reason, total),
        "",
        links["exclusion_matrix.png"],
        "",
        "## Processes by status",
        "",
        "| status | processes |",
        "|:--|--:|",
        *(f"| {s} | {processes.get(s, 0)} |" for s in CATEGORIES["status"]),
        f"| total | {sum(processes.values())} |",
        "",
        links["starts_over_time.png"],
        "",
        "## Queues",
        "",
        _queue_sentence(queued),
        "",
        links["queue_lengths.png"],
        "",
        links["waiting_times.png"],
        "",
        "## Cascades",
        "",
        "| cascades | count |",
        "|:--|--:|",
        f"| deepest depth | {cascades['deepest']} |",
        f"| process-made decisions | {cascades['process_made_decisions']} |",
        f"| runaways stopped | {len(cascades['runaways'])} |",
        "",
        links["cascade_depths.png"],
        "",
        *_runaway_lines(cascades["runaways"]),
    ]
    return "\n".join(lines) + "\n"


def _reason_lines(by_reason: Counter[tuple[str, str]], total: int, shown: int = 10) -> list[str]:
    if not total:
        return ["No decisions yet."]
    ordered = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
    return [
        "| reason | outcome | decisions | share |",
        "|:--|:--|--:|--:|",
        *(f"| {r} | {o} | {n} | {n / total:.1%} |" for (r, o), n in ordered[:shown]),
    ]


def _queue_sentence(queued: pd.DataFrame) -> str:
    if queued.empty:
        return "No process waited in a queue."
    waits = _waits(queued).dropna()
    never = len(queued) - len(waits)
    text = f"{len(queued)} processes waited in a queue"
    if not waits.empty:
        text += (
            f": {len(waits)} started after a median wait of {_duration(float(waits.median()))} "
            f"(longest {_duration(float(waits.max()))})"
        )
    return text + (f"; {never} never started." if never else ".")


def _duration(seconds: float) -> str:
    scale, unit = _time_unit(seconds)
    return f"{seconds / scale:.3g} {unit}"


def _runaway_lines(runaways: list[dict[str, Any]], shown: int = 10) -> list[str]:
    """Runaways grouped by the shape of their chain (templates run-length encoded)."""
    if not runaways:
        return ["No runaway cascade: every cascade ended within the depth bound."]
    groups: dict[str, list[dict[str, Any]]] = {}
    for runaway in runaways:
        groups.setdefault(_chain(runaway["chain"]), []).append(runaway)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    lines = [
        "### Runaway chains",
        "",
        "| runaways | chain of causes | first stopped |",
        "|--:|:--|:--|",
    ]
    for chain, members in ordered[:shown]:
        first = members[0]
        lines.append(
            f"| {len(members)} | {chain} | {first['element']}, traffic line {first['line']}, "
            f"depth {first['depth']} |"
        )
    if len(ordered) > shown:
        rest = sum(len(members) for _, members in ordered[shown:])
        lines.extend(["", f"… and {rest} more runaways in {len(ordered) - shown} other chains."])
    return lines


def _chain(steps: list[dict[str, Any]]) -> str:
    """`crm.deal change via ui → template 301 on crm.deal x21`: repeated steps counted once."""
    if not steps:
        return "(no chain recorded)"
    root = steps[0]
    runs: list[list[Any]] = []
    for step in steps:
        key = f"template {step['template']} on {_document_type(step['element'])}"
        if runs and runs[-1][0] == key:
            runs[-1][1] += 1
        else:
            runs.append([key, 1])
    shown = [f"{key} x{n}" if n > 1 else key for key, n in runs]
    if len(shown) > 6:
        shown = [*shown[:3], f"… {len(shown) - 5} more …", *shown[-2:]]
    head = f"{_document_type(root['element'])} {root['trigger']} via {root['channel']}"
    return " → ".join([head, *shown])


def _document_type(element: str) -> str:
    return element.rsplit(":", 1)[0]
