"""Collector speed: a bounded burst of deliveries from concurrent clients, accepted events/s.

Usage: .venv/bin/python benchmarks/collector_speed.py [--events 20000] [--clients 32] [--runs 3]
       [--postgres]

Starts `autostart collect` as its own process on 127.0.0.1 (a new SQLite file each run, or with
--postgres a new database of a throwaway PostgreSQL server started as the tests start theirs),
posts EVENTS distinct form-encoded deliveries from CLIENTS concurrent keep-alive connections
(plain asyncio streams, light as a load generator),
and prints, as the median of the runs: accepted events/s (from the first request sent to the
last answer) and the p50 and p99 latency of one delivery as its client saw it. Every delivery
must be answered 200 and be in the store once, or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


async def _burst(port: int, events: int, clients: int) -> tuple[float, list[float], int]:
    """Seconds for the whole burst, each delivery's latency in seconds, and how many got 200.

    Each client is one keep-alive HTTP/1.1 connection written to with asyncio streams: a client
    as light as a load generator's, so the collector, not the client, takes the CPU.
    """
    requests = [
        b"POST /bitrix/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (FORM.encode(), len(body), body)
        for body in (
            delivery("ONCRMDEALUPDATE", 1 + n % 5000, 1766000000 + n) for n in range(events)
        )
    ]
    pending = iter(requests)
    latencies: list[float] = []
    ok = [0]

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in pending:
                sent = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - sent)
                ok[0] += head.startswith(b"HTTP/1.1 200 ")
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
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
                    _burst(collector.port, args.events, args.clients)
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
        # The machine's load (1-minute average) at the end: the figures are only as quiet as it.
        "load_1min": round(os.getloadavg()[0], 2),
        "events": args.events,
        "clients": args.clients,
        "runs": args.runs,
        **{key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
