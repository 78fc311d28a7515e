"""Every notebook runs start to finish on a small simulation, headless, and answers its question."""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.py"))


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
    monkeypatch.setenv("AUTOSTART_NOTEBOOK_EVENTS", "1500")
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
    assert os.environ["AUTOSTART_NOTEBOOK_EVENTS"] == "1500"
