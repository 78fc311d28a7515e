"""Every notebook runs start to finish on a small simulation, headless, and answers its question."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.py"))
LINES = 1500
# The shape of each notebook's answer, its figures captured.
ANSWERS = {
    "audit_a_portal": r"Of (?P<verdicts>\d+) \(element, template, trigger\) verdicts, "
    r"(?P<started>\d+) started with the portal's own evidence, (?P<expected>\d+) are expected "
    r"but no source can show them, (?P<excluded>\d+) were excluded by the model, and "
    r"(?P<anomalies>\d+) are anomalies: crm\.",
    "audit_one_element": r"\S+ was imported \(no process: CHANNEL_IMPORT\) and then changed "
    r"(?P<changes>\d+) times by hand, .* started nothing itself\.",
    "load_and_limits": r"Under bursts, a limit of 1 held back (?P<held>[\d,]+) starts \(queued\) "
    r"on cloud and refused (?P<refused>[\d,]+) on-premise",
    "what_if": r"Over (?P<lines>[\d,]+) traffic lines: starting template 12 on change too would "
    r"have started (?P<gained>[\d,]+) more processes",
    "which_processes_start": r"Of (?P<decisions>[\d,]+) decisions, (?P<share>\d+)% started a "
    r"process\. .* imports \([\d,]+ decisions\) never started one\.",
}


def test_there_are_five_notebooks() -> None:
    assert [path.stem for path in NOTEBOOKS] == [
        "audit_a_portal",
        "audit_one_element",
        "load_and_limits",
        "what_if",
        "which_processes_start",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_and_ends_with_its_answer(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOSTART_NOTEBOOK_LINES", str(LINES))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    notebook = jupytext.read(path)

    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    first, last = notebook.cells[0], code[-1]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "**Question.**" in first.source
    assert sum("assert " in cell.source for cell in code) == 1
    answer = "".join(output.get("text", "") for output in last.outputs)
    assert 20 <= len(notebook.cells) <= 32, len(notebook.cells)
    found = re.search(ANSWERS[path.stem], answer, re.DOTALL)
    assert found, answer
    figures = {name: int(value.replace(",", "")) for name, value in found.groupdict().items()}
    if path.stem == "what_if":  # the small run was the one asked for: 1,500 timed lines and setup
        assert LINES <= figures["lines"] < LINES + 100, figures
    if path.stem == "which_processes_start":
        assert figures["decisions"] >= LINES
        assert 0 < figures["share"] < 100
    if path.stem == "load_and_limits":
        assert figures["held"] > 0
    if path.stem == "audit_a_portal":
        kinds = ("started", "expected", "excluded", "anomalies")
        assert all(figures[kind] > 0 for kind in kinds), figures
        assert sum(figures[kind] for kind in kinds) == figures["verdicts"], figures


@pytest.mark.slow
def test_the_notebooks_command_writes_a_notebook_as_html_with_its_figures(tmp_path: Path) -> None:
    what_if = next(path for path in NOTEBOOKS if path.stem == "what_if")

    result = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "notebooks", str(what_if),
         "--out", str(tmp_path / "html"), "--lines", "1500"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip

    html = (tmp_path / "html" / "what_if.html").read_text(encoding="utf-8")
    err = result.stderr
    assert result.returncode == 0, err
    assert "<h1" in html
    assert "Question." in html
    shown = re.search(r"what_if\.html: (\d+) figures", err)
    assert shown is not None, err
    assert int(shown[1]) >= 2
    assert html.count("data:image/png;base64,") >= int(shown[1])
    assert "Traceback" not in html
    assert sorted(p.name for p in (tmp_path / "html").iterdir()) == ["what_if.html"]
