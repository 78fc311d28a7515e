"""One bench run: traffic generated, replayed, asked about, loaded, rebuilt and written again."""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.stores import parse_store
from simulations.bench import SCENARIO
from simulations.bench.baselines import profile, raw_insert, read_and_decode
from simulations.bench.figures import Figure, Skipped, Target, median, render_table
from simulations.bench.reads import commonest_kind, elements_of, frame_seconds, why_seconds
from simulations.bench.runs import Run, autostart
from simulations.bench.stores import BenchStores, Sizes
from simulations.bench.writes import WriteTimes, write_again
from simulations.replay import BATCH_LINES

# `why` is compared with a store of about this many events.
WHY_SMALL_EVENTS = 10_000
MIB = 1024 * 1024
# The targets (SQLite, 100k lines of typical-cloud; PostgreSQL's replay against COPY).
REPLAY_TARGET = {"sqlite": 0.12, "postgres": 0.1}
REBUILD_TARGET = Target(at_least=True, limit=1.5)
WHY_TARGET = Target(at_least=False, limit=1.5)
MEMORY_TARGET = Target(at_least=False, limit=1.5)
SIZE_TARGET = Target(at_least=False, limit=500, of="value")


@dataclass(frozen=True, slots=True)
class BenchResult:
    lines: int
    runs: int
    store: str
    events: int
    mean_state_bytes: float
    seconds: float
    figures: list[Figure | Skipped]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": SCENARIO,
            "lines": self.lines,
            "runs": self.runs,
            "store": self.store,
            "stored_events": self.events,
            "mean_state_bytes": round(self.mean_state_bytes, 1),
            "seconds": round(self.seconds, 1),
            "figures": {figure.name: figure.as_dict() for figure in self.figures},
        }

    def render(self) -> str:
        runs = "1 run" if self.runs == 1 else f"median of {self.runs} runs"
        heading = (
            f"autostart bench: {self.lines:,} traffic lines of {SCENARIO} "
            f"({self.events:,} stored events, {self.mean_state_bytes:,.0f} bytes of state each "
            f"on average) into {self.store}, {runs}, {self.seconds:,.0f} s in all"
        )
        notes = [
            "ratios compare figures measured in this one run; absolute figures drift with the "
            "machine's load"
        ]
        return render_table(heading, self.figures, notes)


class Bench:
    """Measures every figure on `stores`, in `folder` (traffic files), saying each step."""

    def __init__(
        self,
        lines: int,
        runs: int,
        stores: BenchStores,
        folder: Path,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.lines, self.runs, self.stores = lines, runs, stores
        self.folder, self.say = folder, say
        self.current = ""  # the address of the last store replayed into

    def run(self) -> BenchResult:
        started = time.perf_counter()
        traffic = self._generate("traffic", self.lines)
        replays = [self._replay(traffic, "big", f"replay {r + 1} of {self.runs}") for r in self._r]
        address = self.current
        big = parse_store(address)
        stored = profile(big, self.stores.events_table(big))
        sizes = self.stores.sizes(address)
        kind = commonest_kind(big)
        big_elements = elements_of(big, kind)
        self.say(f"why on {stored.events:,} events")
        why_big = why_seconds(address, big_elements, self.runs)
        frame = self._frame(address)
        rebuild, decode = self._rebuild(address)
        self.say("write path")
        batch = max(round(stored.events * BATCH_LINES / self.lines), 1)
        batched = [self.stores.side(f"batched{r}") for r in self._r]
        saved = [self.stores.side(f"saved{r}") for r in self._r]
        writes = write_again(big, batch, batched, saved)
        for r in self._r:
            self.stores.drop_side(f"batched{r}")
            self.stores.drop_side(f"saved{r}")
        raw = self._raw(stored)
        tenth_traffic = self._generate("tenth", max(self.lines // 10, 1))
        tenth = [
            self._replay(tenth_traffic, "tenth", f"replay of a tenth {r + 1}") for r in self._r
        ]
        small_address, small_events = self._small(tenth)
        small_elements = elements_of(parse_store(small_address), kind)
        self.say(f"why on {small_events:,} events")
        why_small = why_seconds(small_address, small_elements, self.runs)
        events = stored.events
        replay_s, raw_rate = median([r.seconds for r in replays]), events / median(raw)
        raw_name = "raw COPY" if self.stores.kind == "postgres" else "raw executemany"
        figures: list[Figure | Skipped] = [
            Figure(
                "replay",
                events / replay_s,
                "events/s",
                f"{events / replay_s:,.0f} events/s ({self.lines / replay_s:,.0f} lines/s)",
                raw_name,
                raw_rate,
                f"{raw_name} {raw_rate:,.0f} rows/s",
                events / replay_s / raw_rate,
                Target(at_least=True, limit=REPLAY_TARGET[self.stores.kind]),
                {
                    "seconds": round(replay_s, 2),
                    "lines_per_s": round(self.lines / replay_s, 1),
                    "raw_seconds": round(median(raw), 3),
                    "aggregates": stored.aggregates,
                },
            ),
            *_writes(writes, raw_name, raw_rate, batch),
            _rated(
                "rebuild",
                events,
                median(rebuild),
                "library read-and-decode",
                median(decode),
                REBUILD_TARGET,
            ),
            Figure(
                "why",
                median(why_big),
                "s",
                f"{median(why_big):.3f} s on {events:,} events",
                "why on a ~10k-event store",
                median(why_small),
                f"{median(why_small):.3f} s on {small_events:,} events",
                median(why_big) / median(why_small),
                WHY_TARGET,
                {"kind": kind, "small_store_events": small_events, "asked": len(why_big)},
            ),
            frame,
            _memory(replays, tenth, self.lines // 10),
            _size(sizes, events),
        ]
        return BenchResult(
            self.lines,
            self.runs,
            "PostgreSQL" if self.stores.kind == "postgres" else "SQLite",
            events,
            stored.mean_state_bytes,
            time.perf_counter() - started,
            figures,
        )

    @property
    def _r(self) -> range:
        return range(self.runs)

    def _generate(self, name: str, lines: int) -> Path:
        self.say(f"generate {lines:,} lines")
        path = self.folder / f"{name}.jsonl"
        autostart("generate", SCENARIO, "--lines", str(lines), stdout=path)
        return path

    def _replay(self, traffic: Path, name: str, step: str) -> Run:
        self.say(step)
        address = self.current = self.stores.main(name)
        return autostart(
            "replay", str(traffic), "--store", address, "--decisions", os.devnull, peak=True
        )

    def _frame(self, address: str) -> Figure | Skipped:
        if not _installed("pandas"):
            return Skipped("frame", "pandas is not installed (the [report] extra)")
        self.say("decisions frame")
        store = parse_store(address)
        timed = [frame_seconds(address, store) for _ in self._r]
        loaded, read = median([t[0] for t in timed]), median([t[1] for t in timed])
        return Figure(
            "frame",
            loaded,
            "s",
            f"{loaded:.3f} s for {timed[0][2]:,} decisions",
            "pandas.read_sql",
            read,
            f"pandas.read_sql {read:.3f} s",
            loaded / read,
        )

    def _rebuild(self, address: str) -> tuple[list[float], list[float]]:
        store = parse_store(address)
        rebuilt, decoded = [], []
        for r in self._r:
            self.say(f"rebuild {r + 1} of {self.runs}")
            rebuilt.append(autostart("project", "--rebuild", "--store", address).seconds)
            decoded.append(read_and_decode(store)[1])
        return rebuilt, decoded

    def _raw(self, stored: Any) -> list[float]:
        self.say("raw baseline")
        rows = stored.rows(uuid_ids=self.stores.kind == "postgres")
        seconds = []
        for r in self._r:
            side = self.stores.side(f"raw{r}")
            seconds.append(raw_insert(side, self.stores.events_table(side), rows))
            self.stores.drop_side(f"raw{r}")
        return seconds

    def _small(self, tenth: list[Run]) -> tuple[str, int]:
        """The ~10k-event store for `why`: the last tenth replay's when near enough."""
        address = self.current
        store = parse_store(address)
        events = profile(store, self.stores.events_table(store)).events
        if WHY_SMALL_EVENTS / 2 <= events <= WHY_SMALL_EVENTS * 2:
            return address, events
        lines = max(round(WHY_SMALL_EVENTS * (self.lines // 10) / max(events, 1)), 10)
        traffic = self._generate("small", lines)
        self._replay(traffic, "small", f"replay of {lines:,} lines for why")
        address = self.current
        store = parse_store(address)
        return address, profile(store, self.stores.events_table(store)).events


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        return False


def _writes(
    writes: WriteTimes, raw_name: str, raw_rate: float, batch: int
) -> list[Figure | Skipped]:
    rate = writes.events / median(writes.batched)
    saved = writes.saved_events / median(writes.per_aggregate)
    return [
        Figure(
            "write_path",
            rate,
            "events/s",
            f"{rate:,.0f} events/s",
            raw_name,
            raw_rate,
            f"{raw_name} {raw_rate:,.0f} rows/s",
            rate / raw_rate,
            details={"batch_events": batch, "batches": writes.batches},
        ),
        Figure(
            "write_path_vs_save",
            rate,
            "events/s",
            f"{rate:,.0f} events/s",
            "per-aggregate save()",
            saved,
            f"save() per aggregate {saved:,.0f} events/s (first {writes.saved_events:,})",
            rate / saved,
            details={"saved_events": writes.saved_events, "saves": writes.saves},
        ),
    ]


def _rated(
    name: str,
    events: int,
    seconds: float,
    baseline_name: str,
    baseline_seconds: float,
    target: Target | None,
    details: dict[str, Any] | None = None,
) -> Figure:
    rate, baseline = events / seconds, events / baseline_seconds
    return Figure(
        name,
        rate,
        "events/s",
        f"{rate:,.0f} events/s",
        baseline_name,
        baseline,
        f"{baseline_name} {baseline:,.0f} events/s",
        rate / baseline,
        target,
        {
            "seconds": round(seconds, 3),
            "baseline_seconds": round(baseline_seconds, 3),
            **(details or {}),
        },
    )


def _memory(big: list[Run], tenth: list[Run], tenth_lines: int) -> Figure | Skipped:
    peaks = [run.peak_rss_bytes for run in big]
    small = [run.peak_rss_bytes for run in tenth]
    if None in peaks or None in small:
        return Skipped("memory", "this platform does not tell a child process's peak memory")
    at_n = median([p for p in peaks if p is not None]) / MIB
    at_tenth = median([p for p in small if p is not None]) / MIB
    return Figure(
        "memory",
        at_n,
        "MiB",
        f"{at_n:,.1f} MiB peak",
        "peak at N/10 lines",
        at_tenth,
        f"{at_tenth:,.1f} MiB at {tenth_lines:,} lines",
        at_n / at_tenth,
        MEMORY_TARGET,
    )


def _size(sizes: Sizes, events: int) -> Figure:
    whole = sizes.whole_bytes / events
    alone = sizes.events_bytes / events if sizes.events_bytes is not None else None
    return Figure(
        "store_size",
        whole,
        "B/event",
        f"{whole:,.0f} B/event ({sizes.whole_bytes / 1e6:,.1f} MB)",
        "events alone",
        alone,
        f"events alone {alone:,.0f} B/event"
        if alone is not None
        else "events alone: unknown (this SQLite has no dbstat)",
        None,
        SIZE_TARGET,
        {"store_bytes": sizes.whole_bytes, "events_bytes": sizes.events_bytes},
    )
