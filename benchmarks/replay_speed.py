"""Replay speed and memory: events/s into a store, against the store's own batched save speed.

Usage: .venv/bin/python benchmarks/replay_speed.py [--lines 100000] [--runs 3] [--postgres]

Replays into SQLite files, or with --postgres into databases of a throwaway PostgreSQL server
started as the tests start theirs. Prints the median of the runs, and ratios measured in this one
run (the machine is shared and noisy): replay events/s over a bare batched eventsourcing save of
the same number of events with the same store settings, and peak memory at N lines over peak
memory at N/10 lines (flat memory gives about 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from domain.stores import parse_store

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from postgres_server import PostgresServer  # noqa: E402

# A new empty store's address for a name.
NewStore = Callable[[str], str]


class _Note(Aggregate):
    class Written(Aggregate.Event):
        text: str

        def apply(self, note: _Note) -> None:
            note.text = self.text

    def __init__(self) -> None:
        self.text = ""


@contextmanager
def _stores(postgres: bool, folder: Path) -> Iterator[NewStore]:
    if not postgres:
        yield lambda name: str(folder / f"{name}.db")
        return
    with PostgresServer() as server:
        yield server.create_database


def _baseline(events: int, store: str) -> float:
    """Events/s of eventsourcing's own batched saves (1000 events a save) into the store."""
    app: Application[UUID] = Application(parse_store(store).env)
    started = time.perf_counter()
    written = 0
    while written < events:
        notes = [_Note() for _ in range(250)]
        for note in notes:
            for i in range(3):
                note.trigger_event(_Note.Written, text=f"text {i}")
        app.save(*notes)
        written += 250 * 4
    elapsed = time.perf_counter() - started
    app.close()
    return written / elapsed


def _replay(traffic: Path, store: str) -> tuple[float, int]:
    """Seconds and events written by one `autostart replay` process."""
    command = [sys.executable, "-m", "simulations.cli", "replay", str(traffic)]
    command += ["--store", store, "--decisions", "/dev/null"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    events = int(done.stderr.rsplit(" decisions, ", 1)[1].split(" events")[0])
    return elapsed, events


def _peak_rss(traffic: Path, store: str) -> int:
    """Peak RSS in KiB of a replay, measured by a fresh child (ru_maxrss keeps the max)."""
    code = (
        "import resource,subprocess,sys;"
        "subprocess.run(sys.argv[1:],check=True,capture_output=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [sys.executable, "-c", code, sys.executable, "-m", "simulations.cli", "replay"]
    command += [str(traffic), "--store", store, "--decisions", "/dev/null"]
    return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="replay into PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _stores(args.postgres, Path(tmp)) as new_store:
        folder = Path(tmp)
        big, small = folder / "big.jsonl", folder / "small.jsonl"
        for path, lines in ((big, args.lines), (small, args.lines // 10)):
            with path.open("w") as out:
                make = [sys.executable, str(HERE / "make_traffic.py"), str(lines)]
                subprocess.run(make, stdout=out, check=True)
        rates, seconds = [], []
        for run in range(args.runs):
            elapsed, events = _replay(big, new_store(f"run{run}"))
            rates.append(events / elapsed)
            seconds.append(elapsed)
        baseline = _baseline(events, new_store("baseline"))
        peak_big = _peak_rss(big, new_store("peak_big"))
        peak_small = _peak_rss(small, new_store("peak_small"))
    result = {
        "store": "postgresql" if args.postgres else "sqlite",
        "lines": args.lines,
        "events": events,
        "runs": args.runs,
        "median_seconds": round(statistics.median(seconds), 2),
        "median_events_per_s": round(statistics.median(rates)),
        "median_lines_per_s": round(args.lines / statistics.median(seconds)),
        "baseline_batched_save_events_per_s": round(baseline),
        "ratio_replay_to_baseline": round(statistics.median(rates) / baseline, 3),
        "peak_rss_mib": round(peak_big / 1024, 1),
        "peak_rss_mib_at_tenth": round(peak_small / 1024, 1),
        "ratio_peak_rss_n_to_tenth": round(peak_big / peak_small, 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
