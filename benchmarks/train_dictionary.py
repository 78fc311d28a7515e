"""Trains the zstd dictionary the event store compresses states with (`domain.compressor`).

Usage: .venv/bin/python benchmarks/train_dictionary.py --id N [--lines 5000] [--size 16384]

Replays every shipped scenario into a temporary store without compression and trains a
dictionary of `--size` bytes on the stored states, written to
`domain/dictionaries/events-N.zdict`. A dictionary, once shipped, is never changed or removed:
stores hold states compressed with it. Train a new id, then make it `CURRENT_DICTIONARY`.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import IO

import zstandard

from domain.application import AutostartApplication
from domain.stores import parse_store
from simulations.generate import generate
from simulations.replay import replay
from simulations.scenario import load, shipped

ROOT = Path(__file__).resolve().parent.parent


def _states(lines: int) -> list[bytes | bytearray | memoryview]:
    states: list[bytes | bytearray | memoryview] = []
    with tempfile.TemporaryDirectory() as folder:
        for number, name in enumerate(sorted(shipped())):
            path = Path(folder) / f"{name}.db"
            app = AutostartApplication(parse_store(str(path)), env={"COMPRESSOR_TOPIC": ""})

            def deliver(source: IO[str]) -> None:
                io.StringIO().write(source.read())

            replay(app, generate(load(name), events=lines, seed=number + 1), deliver)
            app.close()
            with sqlite3.connect(path) as db:
                states += [row[0] for row in db.execute("SELECT state FROM stored_events")]
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", type=int, required=True, help="the new dictionary's id")
    parser.add_argument("--lines", type=int, default=5000, help="traffic lines per scenario")
    parser.add_argument("--size", type=int, default=16384, help="dictionary size in bytes")
    args = parser.parse_args()
    target = ROOT / "domain" / "dictionaries" / f"events-{args.id}.zdict"
    if target.exists():
        sys.exit(f"{target.name} exists: a shipped dictionary is never replaced")
    states = _states(args.lines)
    dictionary = zstandard.train_dictionary(args.size, states, dict_id=args.id)
    target.write_bytes(dictionary.as_bytes())
    compressor = zstandard.ZstdCompressor(dict_data=dictionary, write_checksum=False)
    packed = sum(len(compressor.compress(s)) for s in states)
    raw = sum(len(s) for s in states)
    print(f"{target.name}: {len(states):,} states, {raw / len(states):.0f} bytes each on average,")
    print(f"{packed / len(states):.0f} compressed ({raw / packed:.1f}x)")


if __name__ == "__main__":
    main()
