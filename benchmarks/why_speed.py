"""`why` answer time on a small and a large store, measured in one run.

Usage: .venv/bin/python benchmarks/why_speed.py [--small-events 10000] [--large-events 1000000]

Builds two SQLite stores from synthetic traffic (about 4.8 events a line), projects them, then
asks `explain` for the same number of random elements on each and prints the median answer
times and their ratio: an indexed read gives a ratio near 1 however large the store grows.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.explain import Query, explain
from simulations.replay import open_store

HERE = Path(__file__).resolve().parent
EVENTS_PER_LINE = 4.8


def _build(folder: Path, events: int, name: str) -> tuple[Path, int]:
    lines = max(100, int(events / EVENTS_PER_LINE))
    traffic = folder / f"{name}.jsonl"
    with traffic.open("w") as out:
        subprocess.run(
            [sys.executable, str(HERE / "make_traffic.py"), str(lines)], stdout=out, check=True
        )
    store = folder / f"{name}.db"
    command = [sys.executable, "-m", "simulations.cli", "replay", str(traffic)]
    subprocess.run(
        [*command, "--store", str(store), "--decisions", "/dev/null"],
        check=True,
        capture_output=True,
    )
    app = open_store(parse_store(str(store)))
    stored = app.position()
    app.close()
    return store, stored


def _answer_times(store: Path, asks: int, rng: random.Random) -> tuple[float, int]:
    db = ReadDatabase(parse_store(str(store)))
    names = [r["element"] for r in db.query("SELECT element FROM elements")]
    chosen = [rng.choice(names) for _ in range(asks)]
    seconds = []
    for name in chosen:
        started = time.perf_counter()
        explain(db, Query(name))
        seconds.append(time.perf_counter() - started)
    db.close()
    return statistics.median(seconds), len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-events", type=int, default=10_000)
    parser.add_argument("--large-events", type=int, default=1_000_000)
    parser.add_argument("--asks", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small, small_events = _build(folder, args.small_events, "small")
        large, large_events = _build(folder, args.large_events, "large")
        small_s, small_elements = _answer_times(small, args.asks, rng)
        large_s, large_elements = _answer_times(large, args.asks, rng)
    print(
        json.dumps(
            {
                "small_store_events": small_events,
                "small_store_elements": small_elements,
                "large_store_events": large_events,
                "large_store_elements": large_elements,
                "asks": args.asks,
                "median_why_ms_small": round(small_s * 1000, 3),
                "median_why_ms_large": round(large_s * 1000, 3),
                "ratio_large_to_small": round(large_s / small_s, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
