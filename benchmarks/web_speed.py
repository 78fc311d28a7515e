"""Web view page times on a large store: the element page must render in under 100 ms.

Usage: .venv/bin/python benchmarks/web_speed.py [--events 1000000] [--store FILE.db] [--asks 200]

Builds a SQLite store from synthetic traffic (about 4.8 events a line), or reuses `--store` when
that file exists (building it there otherwise), projects it, serves the web view on 127.0.0.1
and asks for the element pages of random elements, a few template pages, the home page and a
deep page of decisions, each over HTTP. Prints the median, 95th percentile and slowest times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import ClientSession, web

from domain.stores import parse_store
from projections.database import ReadDatabase
from simulations.replay import open_store
from web.app import web_app

HERE = Path(__file__).resolve().parent
EVENTS_PER_LINE = 4.8
BUDGET_MS = 100.0


def _build(store: Path, events: int) -> None:
    lines = max(100, int(events / EVENTS_PER_LINE))
    traffic = store.with_suffix(".jsonl")
    with traffic.open("w") as out:
        subprocess.run(
            [sys.executable, str(HERE / "make_traffic.py"), str(lines)], stdout=out, check=True
        )
    command = [sys.executable, "-m", "simulations.cli", "replay", str(traffic)]
    subprocess.run(
        [*command, "--store", str(store), "--decisions", "/dev/null"],
        check=True,
        capture_output=True,
    )
    traffic.unlink()


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2),
    }


async def _times(url: str, paths: list[str]) -> list[float]:
    seconds = []
    async with ClientSession() as session:
        for path in paths:
            started = time.perf_counter()
            async with session.get(url + path) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path}: HTTP {response.status}")
            seconds.append(time.perf_counter() - started)
    return seconds


async def _measure(store: Path, asks: int, rng: random.Random) -> dict[str, object]:
    address = parse_store(str(store))
    db = ReadDatabase(address)
    names = [r["element"] for r in db.query("SELECT element FROM elements")]
    templates = [r["template"] for r in db.query("SELECT DISTINCT template FROM templates")]
    last = db.query("SELECT MAX(id) AS last FROM decisions")[0]["last"]
    db.close()
    app = open_store(address)
    events = app.position()
    app.close()
    runner = web.AppRunner(web_app(address))
    await runner.setup()  # catches the read models up once, before any page is timed
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    try:
        await _times(url, ["/elements/" + names[0]])  # warm the connection and the templates
        elements = await _times(url, ["/elements/" + rng.choice(names) for _ in range(asks)])
        template_pages = await _times(url, [f"/templates/{t}" for t in templates[:5]])
        deep = await _times(url, [f"/decisions?after={int(last) - 100}"] * 5)
        home = await _times(url, ["/"] * 3)
    finally:
        await runner.cleanup()
    return {
        "store_events": events,
        "store_elements": len(names),
        "asks": asks,
        "element_page": _summary(elements),
        "template_page": _summary(template_pages),
        "deep_decisions_page": _summary(deep),
        "home_page": _summary(home),
        "element_page_under_budget": _summary(elements)["p95_ms"] < BUDGET_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="reuse this SQLite file (built when missing)")
    parser.add_argument("--asks", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "large.db"
        if not store.exists():
            _build(store, args.events)
        result = asyncio.run(_measure(store, args.asks, rng))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
