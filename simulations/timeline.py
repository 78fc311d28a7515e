"""One element's history as a figure: its changes, every template's decisions, its processes."""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from typing import Any

from matplotlib.figure import Figure

# The report's colours (simulations.reports.figures), so a colour means one outcome everywhere.
OUTCOME_COLOURS = {
    "started": "#2a9d5c",
    "queued": "#e9a23b",
    "rejected": "#d1495b",
    "skipped": "#9aa5b1",
}


MATPLOTLIB_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # matplotlib's default date epoch


def _number(at: datetime, offset: timezone = UTC) -> float:
    """Matplotlib's date number (days since its epoch) of the wall time at `offset`."""
    wall = at.astimezone(offset).replace(tzinfo=UTC)
    return (wall - MATPLOTLIB_EPOCH).total_seconds() / 86400


def _offset(explanation: dict[str, Any]) -> timezone:
    """The offset the element's traffic is written in (its first change's)."""
    for change in explanation["changes"]:
        offset = datetime.fromisoformat(change["at"]).utcoffset()
        return timezone(offset) if offset else UTC
    return UTC


def timeline_figure(
    explanation: dict[str, Any], window: tuple[datetime, datetime] | None = None
) -> Figure:
    """Rows: the element's changes on top, then one row per template (decisions as dots,
    processes as bars from start to end, the queue wait as a thin line before the bar).

    `window` (first, last) zooms on a stretch of a long history, such as one queue's wait.
    """
    changes = explanation["changes"]
    templates = sorted({d["template"] for c in changes for d in c["decisions"]})
    rows = {template: index + 1 for index, template in enumerate(templates)}
    offset = _offset(explanation)

    def _time(text: str | None) -> float | None:
        return None if text is None else _number(datetime.fromisoformat(text), offset)

    fig = Figure(figsize=(10, 1.6 + 0.6 * len(rows)))
    ax = fig.add_subplot()
    for change in changes:
        at = _number(datetime.fromisoformat(change["at"]), offset)
        marker = {"add": "^", "change": "o"}.get(change["trigger"], "x")
        # A write the portal refused is drawn hollow: it changed nothing.
        face = "none" if change.get("refused") else "black"
        ax.plot([at], [0], marker=marker, color="black", mfc=face, linestyle="none")
        for decision in change["decisions"]:
            row = rows[decision["template"]]
            ax.plot(
                [at],
                [row],
                marker="o",
                linestyle="none",
                color=OUTCOME_COLOURS[decision["outcome"]],
            )
            status = decision.get("process_status") or {}
            started, ended = _time(status.get("started_at")), _time(status.get("ended_at"))
            queued = _time(status.get("queued_at"))
            if queued is not None:
                ax.plot([queued, started or queued], [row, row], color="tab:orange", lw=1)
            if started is not None:
                end = ended or _time(status.get("ends_at")) or started
                ax.plot(
                    [started, end],
                    [row, row],
                    color="tab:green",
                    lw=5,
                    alpha=0.5,
                    solid_capstyle="butt",
                )
    ax.set_yticks(range(len(rows) + 1), ["changes", *(f"template {t}" for t in templates)])
    ax.invert_yaxis()
    ax.xaxis_date()
    zone = "UTC" if offset == UTC else f"UTC{str(offset)[3:]}"
    ax.set_xlabel(f"time ({zone}, the traffic's offset)")
    title = f"{explanation['element']}: changes, decisions and processes"
    if window is not None:
        ax.set_xlim(_number(window[0], offset), _number(window[1], offset))
        first, last = (w.astimezone(offset) for w in window)
        title += f", {first:%d %b %H:%M} to {last:%H:%M}"
    ax.set_title(title)
    handles = [
        ax.plot([], [], marker="o", linestyle="none", color=colour, label=outcome)[0]
        for outcome, colour in OUTCOME_COLOURS.items()
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
