"""The report's figures drawn from a 20k-line month: titles match the data, nothing is empty,
times are in the traffic's offset."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import matplotlib as mpl
import pandas as pd
import pytest

mpl.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from domain.stores import parse_store
from projections.database import ReadDatabase
from simulations.reports import (
    cascade_depths,
    decision_counts,
    decisions_by_channel,
    exclusion_matrix,
    queue_lengths,
    queued_processes,
    setting_changes,
    start_counts,
    starts_over_time,
    waiting_times,
)
from simulations.scenario import load
from simulations.simulate import simulate

OFFSET = timezone(timedelta(hours=3))  # typical-cloud's traffic is written at +03:00

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadDatabase]:
    store = parse_store(str(tmp_path_factory.mktemp("month") / "month.db"))
    simulate(load("typical-cloud"), store, events=20_000)
    db = ReadDatabase(store)
    yield db
    db.close()


@pytest.fixture(scope="module")
def figures(month: ReadDatabase) -> Iterator[dict[str, Figure]]:
    decisions, starts = decision_counts(month), start_counts(month)
    queued = queued_processes(month)
    drawn = {
        "decisions_by_channel": decisions_by_channel(decisions),
        "exclusion_matrix": exclusion_matrix(decisions),
        "starts_over_time": starts_over_time(starts, setting_changes(month)),
        "queue_lengths": queue_lengths(queued),
        "waiting_times": waiting_times(queued),
        "cascade_depths": cascade_depths(decisions),
    }
    yield drawn
    for fig in drawn.values():
        plt.close(fig)


def plotting_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def number_in(title: str, before: str) -> int:
    found = re.search(rf"([\d,]+) {before}", title)
    assert found is not None, title
    return int(found[1].replace(",", ""))


def test_every_panel_of_every_figure_plots_something_and_every_legend_names_it(
    figures: dict[str, Figure],
) -> None:
    for name, fig in figures.items():
        for ax in plotting_axes(fig):
            drawn = [*ax.lines, *ax.patches, *ax.images, *ax.collections]
            assert drawn, f"{name}: an empty panel titled {ax.get_title()!r}"
            assert ax.get_title(), f"{name}: a panel without a title"
            legend = ax.get_legend()
            if legend is not None:
                labels = [text.get_text() for text in legend.get_texts()]
                assert labels, f"{name}: an empty legend"
                plotted = {artist.get_label() for artist in drawn}
                plotted |= {c.get_label() for c in ax.containers}
                assert set(labels) <= plotted, (name, labels)


def test_the_starts_title_counts_what_is_plotted_in_whole_days_at_the_traffics_offset(
    figures: dict[str, Figure], month: ReadDatabase
) -> None:
    (ax,) = plotting_axes(figures["starts_over_time"])
    lines = [line for line in ax.lines if str(line.get_label()).startswith("template")]
    starts = [
        datetime.fromisoformat(row["started_at"]).astimezone(OFFSET)
        for row in month.query("SELECT started_at FROM processes WHERE started_at IS NOT NULL")
    ]
    per_day = Counter(at.date() for at in starts)

    plotted = sum(sum(cast(Any, line.get_ydata())) for line in lines)
    days = [pd.Timestamp(x).date() for x in cast(Any, lines[0].get_xdata())]
    assert number_in(ax.get_title(), "started in whole days") == plotted
    assert number_in(ax.get_title(), "more in the partial") == len(starts) - plotted
    assert "UTC+03:00" in ax.get_xlabel()
    assert days[0] == min(per_day) + timedelta(days=1)
    assert days[-1] == max(per_day) - timedelta(days=1)
    assert plotted == sum(n for day, n in per_day.items() if days[0] <= day <= days[-1])
    assert len({len(cast(Any, line.get_xdata())) for line in lines}) == 1


def test_the_starts_figure_marks_every_timed_settings_change(
    figures: dict[str, Figure],
) -> None:
    (ax,) = plotting_axes(figures["starts_over_time"])

    marks = [text.get_text() for text in ax.texts]

    assert marks == [
        "portal licence=free",
        "template 12 auto_execute",
        "portal licence=paid",
        "portal plan=basic",
        "portal plan=professional",
    ]


def test_two_templates_starting_alike_are_both_visible(figures: dict[str, Figure]) -> None:
    (ax,) = plotting_axes(figures["starts_over_time"])
    lines = {line.get_label(): line for line in ax.lines}

    eleven, twelve = lines["template 11 (crm.deal)"], lines["template 12 (crm.deal)"]

    assert eleven.get_linewidth() > twelve.get_linewidth()
    assert twelve.get_linestyle() != "-"


def test_the_queue_figure_counts_its_processes_and_zooms_on_the_longest_queues(
    figures: dict[str, Figure], month: ReadDatabase
) -> None:
    overall, *zooms = plotting_axes(figures["queue_lengths"])
    queued = month.query("SELECT COUNT(*) AS n FROM processes WHERE queued_at IS NOT NULL")

    assert number_in(overall.get_title(), "processes queued") == queued[0]["n"]
    assert "UTC+03:00" in overall.get_xlabel()
    assert len(zooms) == 5
    for zoom in zooms:
        minutes = cast(Any, zoom.lines[0].get_xdata())
        # Each zoom spans one queue's episode, minutes long, not the month.
        assert 0 < max(minutes) < 24 * 60


def test_the_decisions_and_waits_titles_count_what_their_bars_show(
    figures: dict[str, Figure], month: ReadDatabase
) -> None:
    (channels,) = plotting_axes(figures["decisions_by_channel"])
    (waits,) = plotting_axes(figures["waiting_times"])
    total = month.query("SELECT COUNT(*) AS n FROM decisions")[0]["n"]

    assert number_in(channels.get_title(), "decisions") == total
    assert sum(cast(Any, bar).get_width() for bar in channels.patches) == total
    waited = number_in(waits.get_title(), "started after waiting")
    assert sum(cast(Any, bar).get_height() for bar in waits.patches) == waited


def test_the_exclusion_matrix_uses_a_log_scale_and_the_reports_outcome_colours(
    figures: dict[str, Figure],
) -> None:
    (matrix,) = plotting_axes(figures["exclusion_matrix"])
    (channels,) = plotting_axes(figures["decisions_by_channel"])
    legend = channels.get_legend()
    assert legend is not None

    colours = {
        text.get_text(): cast(Any, handle).get_facecolor()
        for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)
    }

    assert type(matrix.images[0].norm).__name__ == "LogNorm"
    assert colours["rejected"][:3] == pytest.approx((0xD1 / 255, 0x49 / 255, 0x5B / 255))
    assert colours["skipped"][:3] != colours["rejected"][:3]


def test_a_written_report_has_every_figure(month: ReadDatabase, tmp_path: Path) -> None:
    from simulations.reports import FIGURES, write_report  # noqa: PLC0415

    summary = write_report(month, tmp_path)

    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(FIGURES)
    assert all((tmp_path / name).stat().st_size > 10_000 for name in FIGURES)
    assert summary.read_text(encoding="utf-8").count("](") == len(FIGURES)
