"""`autostart notebooks`: execute the jupytext notebooks and write each as HTML with its figures."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from simulations.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    UsageError,
    count_option,
    output_file,
    require_extra,
    say,
)
from simulations.render import counted

LINES_VARIABLE = "AUTOSTART_NOTEBOOK_LINES"


def cmd_notebooks(args: argparse.Namespace) -> int:
    require_extra("notebooks", "jupytext", "nbclient", "nbconvert", "ipykernel", "matplotlib")
    paths = [Path(p) for p in args.notebook] or sorted(Path("notebooks").glob("*.py"))
    if not paths:
        raise UsageError(
            "no notebooks here: run it in the project's folder (notebooks/*.py) or name them"
        )
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{path}: no such notebook")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"--out {args.out!r}: not a folder") from None
    failed = 0
    for path in paths:
        failed += not _execute(path, out, args.lines)
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def _execute(path: Path, out: Path, lines: int | None) -> bool:
    """Runs one notebook in a fresh kernel and writes OUT/NAME.html; False if a cell failed."""
    import jupytext  # noqa: PLC0415 - the [notebooks] extra, loaded only by this command
    from jupyter_client.manager import KernelManager  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415
    from nbclient.exceptions import CellExecutionError  # noqa: PLC0415
    from nbconvert import HTMLExporter  # noqa: PLC0415

    notebook: Any = jupytext.read(path)
    began = time.monotonic()
    # The kernel inherits this process's environment: the size, and matplotlib's inline backend.
    saved = {name: os.environ.get(name) for name in (LINES_VARIABLE, "MPLBACKEND")}
    if lines is not None:
        os.environ[LINES_VARIABLE] = str(lines)
    os.environ.pop("MPLBACKEND", None)
    error = None
    try:
        with tempfile.TemporaryDirectory(prefix="autostart-kernel-") as sockets:
            # Local sockets, not TCP: nothing listens on the network while the kernel runs.
            manager = KernelManager(
                kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel")
            )
            client = NotebookClient(
                notebook,
                km=manager,
                timeout=3600,
                resources={"metadata": {"path": str(path.parent.resolve())}},
            )
            try:
                client.execute()
            finally:
                if manager.has_kernel:
                    manager.shutdown_kernel()
    except CellExecutionError as failure:
        error = str(failure).strip().splitlines()[-1]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    exporter: Any = HTMLExporter()  # type: ignore[no-untyped-call]
    html, _ = exporter.from_notebook_node(notebook)
    target = out / f"{path.stem}.html"
    with output_file(str(target)) as handle:
        handle.write(html)
    figures = sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    seconds = time.monotonic() - began
    if error is not None:
        say(f"autostart notebooks: {path} failed ({error}); what ran is in {target}")
        return False
    say(f"{path} -> {target}: {counted(figures, 'figure')}, {seconds:.0f} s")
    return True


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "notebooks",
        help="execute the notebooks and write them as HTML with their figures",
        description=(
            "Execute each notebook (jupytext percent scripts, notebooks/*.py by default) in a "
            "fresh Jupyter kernel and write DIR/NAME.html with its outputs and figures. Needs "
            "the [notebooks] extra. Exit status 1 when a notebook fails (its HTML shows where)."
        ),
    )
    parser.add_argument("notebook", nargs="*", metavar="NOTEBOOK", help="notebook .py files")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write (created)")
    parser.add_argument(
        "--lines",
        type=count_option,
        metavar="N",
        help=f"traffic lines each notebook simulates (sets {LINES_VARIABLE}; default 20,000)",
    )
    parser.set_defaults(run=cmd_notebooks)
