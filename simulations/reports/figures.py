"""The report's figures, each drawn from one row per item (a `*_frame`) or counted rows (`n`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from projections.frames import CATEGORIES
from simulations.render import counted

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


def _concise_dates(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Dates on the axes labelled compactly, without changing matplotlib's global settings."""

    @wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with plt.rc_context({"date.converter": "concise"}):
            return draw(*args, **kwargs)

    return drawn


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
def starts_over_time(processes: pd.DataFrame, changes: pd.DataFrame | None = None) -> Figure:
    """Processes started per hour (per day past three days), one line per template.

    Only whole hours or days are plotted: a partial first or last one would fall like a cliff.
    `changes` (`at`, `label`: portal and template changes) are marked where they happened.
    """
    started = processes.loc[processes["started_at"].notna()]
    fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
    title = "Processes started over time, per template"
    if started.empty:
        return _no_data(fig, ax, title)
    times = _wall(started["started_at"])
    zone = zone_label(started["started_at"])
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
    total = int(table.to_numpy().sum())
    if len(table) > 3:
        # The first and last buckets hold only part of their hour or day.
        table = table.iloc[1:-1]
    order = table.sum().sort_values(ascending=False, kind="stable").index
    if len(order) > TOP_TEMPLATES:
        kept, rest = list(order[: TOP_TEMPLATES - 1]), list(order[TOP_TEMPLATES - 1 :])
        table = table[kept].assign(**{f"{len(rest)} other templates": table[rest].sum(axis=1)})
    else:
        table = table[list(order)]
    marker = "o" if len(table) <= 30 else None
    styles = ("-", "--", "-.", ":")
    for index, label in enumerate(table.columns):
        # Thick lines first, thinner dashed ones over them: two equal lines both stay visible.
        ax.plot(
            table.index,
            table[label],
            marker=marker,
            markersize=3,
            linewidth=max(3.2 - 0.4 * index, 1.0),
            linestyle=styles[index % len(styles)],
            label=str(label),
        )
    shown = int(table.to_numpy().sum())
    _mark_changes(ax, changes, table.index.min(), table.index.max(), wall=_wall)
    ax.set_xlabel(f"time ({zone}, the traffic's offset); whole {unit}s only")
    ax.set_ylabel(f"processes started per {unit}")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    left_out = total - shown
    ax.set_title(
        f"{title}: {shown:,} started in whole {unit}s"
        + (
            f"\n({left_out:,} more in the partial first and last {unit}, not shown)"
            if left_out
            else ""
        )
    )
    ax.legend(title="template", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def _mark_changes(
    ax: Axes,
    changes: pd.DataFrame | None,
    first: pd.Timestamp,
    last: pd.Timestamp,
    *,
    wall: Callable[[pd.Series], pd.Series],
) -> None:
    """Dotted vertical lines where the portal or a template changed, labelled at the top."""
    if changes is None or changes.empty:
        return
    at = wall(changes["at"])
    top = ax.get_ylim()[1]
    ax.set_ylim(0, top * 1.35)
    for when, label in zip(at, changes["label"], strict=True):
        if not first <= when <= last:
            continue
        ax.axvline(when, color="#555555", linestyle=":", linewidth=1)
        ax.annotate(
            label,
            (when, top * 1.33),
            rotation=90,
            va="top",
            ha="right",
            fontsize=7.5,
            color="#333333",
        )


@_concise_dates
def queue_lengths(processes: pd.DataFrame, *, top: int = TOP_QUEUES) -> Figure:
    """Processes waiting: the peak per hour (per day past three days) over all documents, then
    the documents with the longest queues, each on its own zoomed time axis."""
    queued = processes.loc[processes["queued_at"].notna()]
    title = "Queue lengths"
    if queued.empty:
        fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
        return _no_data(fig, ax, title)
    zone = zone_label(queued["queued_at"])
    moves = _queue_moves(queued)
    overall = moves.groupby("at")["move"].sum().cumsum()
    per_document = moves.groupby(["element", "at"])["move"].sum().groupby(level=0).cumsum()
    peaks = per_document.groupby(level=0).max().sort_values(ascending=False, kind="stable")
    shown = min(top, len(peaks))
    fig = plt.figure(figsize=(11, 7), layout="constrained")
    grid = fig.add_gridspec(2, max(shown, 1), height_ratios=(1.3, 1))
    ax = fig.add_subplot(grid[0, :])
    hourly = overall.index.max() - overall.index.min() <= HOURLY_UP_TO
    freq, unit = ("h", "hour") if hourly else ("D", "day")
    waiting = pd.Series(overall.to_numpy(), index=overall.index)
    # A bucket's peak: the most waiting after any move in it, or the length it began with.
    began_with = waiting.resample(freq).last().ffill().shift(1).fillna(0)
    peak = pd.concat([waiting.resample(freq).max(), began_with], axis=1).max(axis=1)
    ax.bar(peak.index, peak.to_numpy(), width=1 / 24 if hourly else 1.0, align="edge",
           color="#e9a23b", label=f"most waiting at once in the {unit}")  # fmt: skip
    ax.set_title(
        f"{title}: processes waiting, peak per {unit}, all documents "
        f"({counted(len(queued), 'process', 'processes')} queued on "
        f"{counted(len(peaks), 'document')})"
    )
    ax.set_ylabel("processes waiting")
    ax.set_xlabel(f"time ({zone}, the traffic's offset)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left")
    for column, element in enumerate(peaks.index[:top]):
        steps = _busiest_episode(per_document.loc[element])
        zoom = fig.add_subplot(grid[1, column], sharey=None)
        began = steps.index.min()
        minutes = (steps.index - began).total_seconds() / 60
        zoom.step(minutes, steps.to_numpy(), where="post", color="#d1495b")
        zoom.set_title(f"{element}\n{began:%d %b %H:%M}, peak {int(peaks[element])}", fontsize=9)
        zoom.set_xlabel("minutes from this queue's start", fontsize=8)
        zoom.set_ylim(0, int(peaks.iloc[0]) + 0.5)
        zoom.yaxis.set_major_locator(MaxNLocator(integer=True))
        if column == 0:
            zoom.set_ylabel(f"waiting (the {shown} longest queues)")
    return fig


def _busiest_episode(steps: pd.Series) -> pd.Series:
    """The stretch around a queue's peak, from its last empty moment before to its first after."""
    values = steps.to_numpy()
    peak = int(values.argmax())
    empty = np.flatnonzero(values == 0)
    before, after = empty[empty < peak], empty[empty > peak]
    first = int(before[-1]) if len(before) else 0
    last = int(after[0]) if len(after) else len(values) - 1
    return steps.iloc[first : last + 1]


def waiting_times(processes: pd.DataFrame) -> Figure:
    """Histogram of how long queued processes waited before they started."""
    queued = processes.loc[processes["queued_at"].notna()]
    waits = waits_of(queued).dropna()
    never = len(queued) - len(waits)
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    title = "Waiting times of queued processes"
    if waits.empty:
        return _no_data(fig, ax, title + (f" ({never:,} never started)" if never else ""))
    scale, unit = time_unit(float(waits.max()))
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


def _wall(times: pd.Series) -> pd.Series:
    """Wall-clock times in the series' own offset, without a zone: what matplotlib expects.

    Times without a zone are taken as UTC.
    """
    parsed = pd.to_datetime(times)
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize("UTC")
    return parsed.dt.tz_localize(None).dt.as_unit("us")


def zone_label(times: pd.Series) -> str:
    """`UTC+03:00`: the offset the series' times are shown in (`UTC` for UTC or none)."""
    zone = pd.to_datetime(times).dt.tz
    if zone is None:
        return "UTC"
    offset = pd.Timestamp("2026-01-01", tz=zone).utcoffset()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _template_labels(processes: pd.DataFrame) -> pd.Series:
    labels = "template " + processes["template"].astype(int).astype(str)
    if "document_type" in processes:
        labels = labels + " (" + processes["document_type"].astype(str) + ")"
    return labels


def _queue_moves(queued: pd.DataFrame) -> pd.DataFrame:
    """+1 when a process joins its document's queue, -1 when it starts or is dropped."""
    left = _wall(queued["started_at"]).fillna(_wall(queued["ended_at"]))
    joins = pd.DataFrame({"element": queued["element"], "at": _wall(queued["queued_at"])})
    leaves = pd.DataFrame({"element": queued["element"], "at": left})
    moves = pd.concat(
        [joins.assign(move=1), leaves.loc[leaves["at"].notna()].assign(move=-1)],
        ignore_index=True,
    )
    moves["element"] = moves["element"].astype(str)
    return moves.sort_values(["at", "move"], kind="stable")


def waits_of(queued: pd.DataFrame) -> pd.Series:
    if "wait_s" in queued:
        return queued["wait_s"].astype(float)
    waited = _wall(queued["started_at"]) - _wall(queued["queued_at"])
    return waited.dt.total_seconds()


def time_unit(longest_s: float) -> tuple[float, str]:
    if longest_s < 120:
        return 1.0, "s"
    if longest_s < 2 * 3600:
        return 60.0, "min"
    if longest_s < 2 * 86400:
        return 3600.0, "h"
    return 86400.0, "days"
