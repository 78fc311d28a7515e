"""The command line as a user runs it: `autostart` in a child process, timed, its peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Runs a command and writes its peak resident memory (ru_maxrss) to the file argv[1]. A child's
# ru_maxrss counts the memory of the process it was forked from, so the command is started by
# this small interpreter rather than by the bench, whose own memory would show in the figure.
REAPER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "with open(sys.argv[1], 'w') as report:\n"
    "    report.write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status) & 255)\n"
)


class CommandFailedError(RuntimeError):
    """A measured command did not exit 0: the measurement means nothing."""


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    # Asked for with `peak`; None where the platform cannot say (no os.wait4, e.g. Windows).
    peak_rss_bytes: int | None
    stderr: str


def autostart(*args: str, stdout: Path | None = None, peak: bool = False) -> Run:
    """Runs `autostart ARGS` to its end; its output goes to `stdout` (else nowhere)."""
    command = [sys.executable, "-m", "simulations.cli", *args]
    measured = peak and hasattr(os, "wait4")
    with (
        tempfile.TemporaryDirectory(prefix="autostart-bench-run-") as folder,
        Path(folder, "stderr").open("w+b") as errors,
        Path(stdout or os.devnull).open("wb") as output,
    ):
        report = Path(folder, "peak")
        if measured:
            command = [sys.executable, "-c", REAPER, str(report), *command]
        started = time.perf_counter()
        done = subprocess.run(
            command, check=False, stdin=subprocess.DEVNULL, stdout=output, stderr=errors
        )
        seconds = time.perf_counter() - started
        errors.seek(0)
        stderr = errors.read().decode("utf-8", errors="replace")
        kib = int(report.read_text()) if measured and report.exists() else None
    if done.returncode != 0:
        last = stderr.strip().splitlines()[-1:] or ["(nothing on stderr)"]
        raise CommandFailedError(f"autostart {args[0]} exited with {done.returncode}: {last[0]}")
    # Linux counts ru_maxrss in KiB, macOS in bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return Run(seconds, kib * scale if kib is not None else None, stderr)
