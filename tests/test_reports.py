"""`autostart report` end to end: every figure a PNG, the summary's numbers equal the ledger's."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.frames import decisions_frame, processes_frame
from simulations import reports
from simulations.scenario import load
from simulations.simulate import simulate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = (
    "decisions_by_channel.png",
    "exclusion_matrix.png",
    "starts_over_time.png",
    "queue_lengths.png",
    "waiting_times.png",
    "cascade_depths.png",
)
TEMPLATE_LINE = (
    '{"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3, '
    '"duration": 3600}\n'
)


@pytest.fixture(autouse=True)
def headless() -> None:
    plt.switch_backend("Agg")


def autostart(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulations.cli", *args],
        cwd=cwd,
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def count(store: Path, statement: str) -> int:
    with closing(sqlite3.connect(store)) as db:
        found: int = db.execute(statement).fetchone()[0]
    return found


def counts(store: Path, statement: str) -> dict[str, int]:
    with closing(sqlite3.connect(store)) as db:
        return {str(key): int(n) for key, n in db.execute(statement).fetchall()}


def section(summary: str, heading: str) -> str:
    """The text under `## heading` up to the next heading of that level."""
    start = summary.index(f"## {heading}\n")
    end = summary.find("\n## ", start + 1)
    return summary[start : end if end != -1 else None]


def table(text: str) -> dict[str, int]:
    """`| key | 12 |` rows as {key: 12}; rows with more cells keep their first and third."""
    rows = re.findall(r"^\| ([^|]+?) \| (?:[^|]+? \| )?(\d+) \|", text, re.MULTILINE)
    return {key: int(n) for key, n in rows}


def simulated_store(factory: pytest.TempPathFactory, name: str, events: int) -> Path:
    store = factory.mktemp(name) / "s.db"
    simulate(load(name), parse_store(str(store)), events=events)
    return store


@pytest.fixture(scope="module")
def queueing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """typical-cloud: queues past the limit of two, some still waiting at the end."""
    return simulated_store(tmp_path_factory, "typical-cloud", 1500)


@pytest.fixture(scope="module")
def looping(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """loop-prone: no queue, runaway cascades stopped at the depth bound."""
    return simulated_store(tmp_path_factory, "loop-prone", 300)


@pytest.fixture(scope="module", params=["queueing", "looping"])
def simulated(request: pytest.FixtureRequest) -> Path:
    store: Path = request.getfixturevalue(request.param)
    return store


@pytest.fixture(scope="module")
def reported(simulated: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = simulated.parent / "report"
    return out, autostart(simulated.parent, "report", "--store", str(simulated), "--out", "report")


def test_report_prints_the_summary_path_and_writes_every_figure_as_a_png(
    reported: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, result = reported

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(Path("report") / "summary.md")
    assert "6 figures" in result.stderr
    for name in FIGURES:
        png = (out / name).read_bytes()
        assert png.startswith(PNG_MAGIC), name
        assert len(png) > 1000, name


def test_summary_links_every_figure(
    reported: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = reported

    summary = (out / "summary.md").read_text()

    for name in FIGURES:
        assert re.search(rf"!\[[^\]]+\]\({re.escape(name)}\)", summary), name


def test_summary_numbers_equal_the_ledger_counts(
    simulated: Path, reported: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    out, _ = reported
    outcomes = counts(simulated, "SELECT outcome, COUNT(*) FROM decisions GROUP BY outcome")
    statuses = counts(simulated, "SELECT status, COUNT(*) FROM processes GROUP BY status")
    reasons = counts(simulated, "SELECT reason, COUNT(*) FROM decisions GROUP BY reason")
    decisions = count(simulated, "SELECT COUNT(*) FROM decisions")
    queued = count(simulated, "SELECT COUNT(*) FROM processes WHERE queued_at IS NOT NULL")

    summary = (out / "summary.md").read_text()

    by_outcome = table(section(summary, "Decisions by outcome"))
    assert by_outcome == {
        **{o: outcomes.get(o, 0) for o in ("started", "queued", "rejected", "skipped")},
        "total": decisions,
    }
    top_reasons = table(section(summary, "Top reasons"))
    assert top_reasons
    assert top_reasons == {reason: reasons[reason] for reason in top_reasons}
    assert (
        sorted(top_reasons.values(), reverse=True)
        == sorted(reasons.values(), reverse=True)[: len(top_reasons)]
    )
    by_status = table(section(summary, "Processes by status"))
    assert {s: n for s, n in by_status.items() if n and s != "total"} == statuses
    assert by_status["total"] == sum(statuses.values())
    assert f"{decisions:,} decisions, {sum(statuses.values()):,} processes" in summary
    queues = section(summary, "Queues")
    waited = f"{queued:,} process{'es' if queued != 1 else ''} waited"
    assert (waited in queues) if queued else ("No process" in queues)
    assert table(section(summary, "Cascades")) == {
        "deepest depth": count(simulated, "SELECT MAX(depth) FROM decisions"),
        "process-made decisions": count(
            simulated, "SELECT COUNT(*) FROM decisions WHERE depth > 0"
        ),
        "runaways stopped": count(simulated, "SELECT COUNT(*) FROM halts"),
    }


def test_runaways_are_listed_by_their_abbreviated_chain_of_causes(
    simulated: Path, reported: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    out, _ = reported
    runaways = count(simulated, "SELECT COUNT(*) FROM halts")

    cascades = section((out / "summary.md").read_text(), "Cascades")

    if not runaways:
        assert "No runaway cascade" in cascades
        return
    chains = re.findall(r"^\| (\d+) \| (.+?) \| (.+?) \|$", cascades, re.MULTILINE)
    assert sum(int(n) for n, _, _ in chains) == runaways
    assert all(" → template " in chain for _, chain, _ in chains)
    assert all(len(chain) < 200 for _, chain, _ in chains)


def test_an_empty_store_gives_a_report_that_says_no_data(tmp_path: Path) -> None:
    (tmp_path / "template.jsonl").write_text(TEMPLATE_LINE)
    replayed = autostart(tmp_path, "replay", "template.jsonl", "--store", "empty.db")
    assert replayed.returncode == 0, replayed.stderr

    result = autostart(tmp_path, "report", "--store", "empty.db", "--out", "out")

    assert result.returncode == 0, result.stderr
    for name in FIGURES:
        assert (tmp_path / "out" / name).read_bytes().startswith(PNG_MAGIC), name
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "0 decisions, 0 processes" in summary
    assert table(section(summary, "Decisions by outcome"))["total"] == 0


def test_report_help_names_the_options(tmp_path: Path) -> None:
    result = autostart(tmp_path, "report", "--help")

    assert result.returncode == 0
    assert "--out DIR" in result.stdout
    assert "--store" in result.stdout


def test_a_missing_store_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    result = autostart(tmp_path, "report", "--store", "missing.db", "--out", "out")

    assert result.returncode == 2
    assert "no store there" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "missing.db").exists()


def test_an_out_path_that_is_a_file_is_a_usage_error(simulated: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")

    result = autostart(tmp_path, "report", "--store", str(simulated), "--out", "taken")

    assert result.returncode == 2
    assert "not a folder" in result.stderr


def test_write_report_reads_a_database_and_leaves_no_figure_open(
    simulated: Path, tmp_path: Path
) -> None:
    db = ReadDatabase(parse_store(str(simulated)))

    try:
        summary = reports.write_report(db, tmp_path / "in-process")
    finally:
        db.close()

    assert plt.get_fignums() == []
    assert summary == tmp_path / "in-process" / "summary.md"
    assert sorted(p.name for p in summary.parent.glob("*.png")) == sorted(FIGURES)


def test_figures_accept_the_notebook_frames_one_row_per_item(queueing: Path) -> None:
    decisions = decisions_frame(str(queueing))
    processes = processes_frame(str(queueing))

    figures = [
        reports.decisions_by_channel(decisions),
        reports.exclusion_matrix(decisions),
        reports.starts_over_time(processes),
        reports.queue_lengths(processes),
        reports.waiting_times(processes),
        reports.cascade_depths(decisions, runaways=1),
    ]

    try:
        assert all(fig.axes[0].get_title() for fig in figures)
    finally:
        for fig in figures:
            plt.close(fig)
    assert plt.get_fignums() == []


def test_processes_frame_of_a_store_where_nothing_queued_raises_no_warning(looping: Path) -> None:
    processes = processes_frame(str(looping))

    assert processes["queued_at"].isna().all()
