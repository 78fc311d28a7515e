"""Collector speed: a bounded burst of deliveries from concurrent clients, accepted events/s.

Usage: .venv/bin/python benchmarks/collector_speed.py [--events 20000] [--clients 32] [--runs 3]
       [--postgres]

Starts `autostart collect` as its own process on 127.0.0.1 (a new SQLite file each run, or with
--postgres a new database of a throwaway PostgreSQL server started as the tests start theirs),
posts EVENTS distinct form-encoded deliveries from CLIENTS concurrent keep-alive connections,
and prints, as the median of the runs: accepted events/s (from the first request sent to the
last answer) and the p50 and p99 latency of one delivery as its client saw it. Every delivery
must be answered 200 and be in the store once, or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from collecting import FORM, Collector, collected, delivery  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402


@contextmanager
def _stores(postgres: bool, folder: Path) -> Iterator[list[str]]:
    names = [f"run{n}" for n in range(100)]
    if not postgres:
        yield [str(folder / f"{name}.db") for name in names]
        return
    with PostgresServer() as server:
        yield [server.create_database(name) for name in names[:10]]


async def _burst(url: str, events: int, clients: int) -> tuple[float, list[float], int]:
    """Seconds for the whole burst, each delivery's latency in seconds, and how many got 200."""
    bodies = [delivery("ONCRMDEALUPDATE", 1 + n % 5000, 1766000000 + n) for n in range(events)]
    pending = iter(bodies)
    latencies: list[float] = []
    ok = [0]

    async def client(session: aiohttp.ClientSession) -> None:
        for body in pending:
            sent = time.perf_counter()
            async with session.post(
                f"{url}/bitrix/events", data=body, headers={"Content-Type": FORM}
            ) as answer:
                await answer.read()
                latencies.append(time.perf_counter() - sent)
                ok[0] += answer.status == 200

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return time.perf_counter() - started, latencies, ok[0]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL store")
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, _stores(args.postgres, Path(tmp)) as stores:
        for run in range(args.runs):
            store = stores[run]
            with Collector(store, Path(tmp), name=f"run{run}") as collector:
                seconds, latencies, ok = asyncio.run(
                    _burst(collector.url, args.events, args.clients)
                )
                assert collector.stop() == 0, collector.log()[-2000:]
            stored = len(collected(store))
            if ok != args.events or stored != args.events:
                raise SystemExit(f"run {run}: {ok} answered 200, {stored} stored, of {args.events}")
            runs.append(
                {
                    "events_per_s": args.events / seconds,
                    "p50_ms": 1000 * _percentile(latencies, 0.50),
                    "p99_ms": 1000 * _percentile(latencies, 0.99),
                }
            )
            print(
                json.dumps({"run": run, **{k: round(v, 1) for k, v in runs[-1].items()}}),
                file=sys.stderr,
            )
    summary = {
        "store": "postgresql" if args.postgres else "sqlite",
        "events": args.events,
        "clients": args.clients,
        "runs": args.runs,
        **{key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
