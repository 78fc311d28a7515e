"""Every notebook runs start to finish on a small simulation, headless, and answers its question."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.py"))


def test_there_are_four_notebooks() -> None:
    assert [path.stem for path in NOTEBOOKS] == [
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
    monkeypatch.setenv("AUTOSTART_NOTEBOOK_LINES", "1500")
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
    assert len(answer) > 80
    assert any(character.isdigit() for character in answer)
    assert 20 <= len(notebook.cells) <= 32, len(notebook.cells)
    assert os.environ["AUTOSTART_NOTEBOOK_LINES"] == "1500"


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
