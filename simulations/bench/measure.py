"""One bench run: traffic generated, replayed, asked about, loaded, rebuilt and written again."""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from domain.stores import parse_store
from simulations.bench import SCENARIO
from simulations.bench.baselines import StoredProfile, profile, raw_insert, read_and_decode
from simulations.bench.reads import commonest_kind, elements_of, frame_seconds, why_seconds
from simulations.bench.runs import Run, autostart
from simulations.bench.stores import BenchStores, Sizes
from simulations.bench.writes import WriteTimes, write_again
from simulations.replay import BATCH_LINES

# `why` is compared with a store of about this many events.
WHY_SMALL_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class Measured:
    """Everything one bench run timed, each measurement once per repetition."""

    lines: int
    runs: int
    kind: str  # the stores': "sqlite" or "postgres"
    stored: StoredProfile  # the replayed store's events
    sizes: Sizes
    replays: list[Run]
    tenth_lines: int
    tenth_replays: list[Run]
    raw_seconds: list[float]
    batch_events: int
    writes: WriteTimes
    rebuild_seconds: list[float]
    decode_seconds: list[float]
    why_kind: str
    why_seconds: list[float]
    small_events: int
    small_why_seconds: list[float]
    # (frame seconds, read_sql seconds, rows) of each repetition; None without pandas.
    frames: list[tuple[float, float, int]] | None
    seconds: float


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

    def run(self) -> Measured:
        started = time.perf_counter()
        traffic = self._generate("traffic", self.lines)
        replays = [self._replay(traffic, "big", f"replay {r + 1} of {self.runs}") for r in self._r]
        # Measured on the last replay's store, in an order that leaves it as the replay did
        # until the rebuild, which folds the same read models again.
        big = self.current
        stored = self._profile(big)
        sizes = self.stores.sizes(big)
        kind = commonest_kind(parse_store(big))
        self.say(f"why on {stored.events:,} events")
        why_big = why_seconds(big, elements_of(parse_store(big), kind), self.runs)
        frames = self._frames(big)
        rebuilt, decoded = self._rebuild(big)
        batch = max(round(stored.events * BATCH_LINES / self.lines), 1)
        writes = self._write_again(big, batch)
        raw = self._raw(stored)
        tenth_lines = max(self.lines // 10, 1)
        tenth_traffic = self._generate("tenth", tenth_lines)
        tenth = [self._replay(tenth_traffic, "tenth", f"replay of N/10 {r + 1}") for r in self._r]
        address, small_events = self._small()
        self.say(f"why on {small_events:,} events")
        why_small = why_seconds(address, elements_of(parse_store(address), kind), self.runs)
        return Measured(
            self.lines,
            self.runs,
            self.stores.kind,
            stored,
            sizes,
            replays,
            tenth_lines,
            tenth,
            raw,
            batch,
            writes,
            rebuilt,
            decoded,
            kind,
            why_big,
            small_events,
            why_small,
            frames,
            time.perf_counter() - started,
        )

    @property
    def _r(self) -> range:
        return range(self.runs)

    def _profile(self, address: str) -> StoredProfile:
        store = parse_store(address)
        return profile(store, self.stores.events_table(store))

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

    def _frames(self, address: str) -> list[tuple[float, float, int]] | None:
        if not _installed("pandas"):
            return None
        self.say("decisions frame")
        store = parse_store(address)
        return [frame_seconds(address, store) for _ in self._r]

    def _rebuild(self, address: str) -> tuple[list[float], list[float]]:
        store = parse_store(address)
        rebuilt, decoded = [], []
        for r in self._r:
            self.say(f"rebuild {r + 1} of {self.runs}")
            rebuilt.append(autostart("project", "--rebuild", "--store", address).seconds)
            decoded.append(read_and_decode(store)[1])
        return rebuilt, decoded

    def _write_again(self, address: str, batch: int) -> WriteTimes:
        self.say("write path")
        batched = [self.stores.side(f"batched{r}") for r in self._r]
        saved = [self.stores.side(f"saved{r}") for r in self._r]
        try:
            return write_again(parse_store(address), batch, batched, saved)
        finally:
            for r in self._r:
                self.stores.drop_side(f"batched{r}")
                self.stores.drop_side(f"saved{r}")

    def _raw(self, stored: StoredProfile) -> list[float]:
        self.say("raw baseline")
        rows = stored.rows(uuid_ids=self.stores.kind == "postgres")
        seconds = []
        for r in self._r:
            side = self.stores.side(f"raw{r}")
            try:
                seconds.append(raw_insert(side, self.stores.events_table(side), rows))
            finally:
                self.stores.drop_side(f"raw{r}")
        return seconds

    def _small(self) -> tuple[str, int]:
        """The ~10k-event store for `why`: the last N/10 replay's when near enough."""
        events = self._profile(self.current).events
        if WHY_SMALL_EVENTS / 2 <= events <= WHY_SMALL_EVENTS * 2:
            return self.current, events
        lines = max(round(WHY_SMALL_EVENTS * max(self.lines // 10, 1) / max(events, 1)), 10)
        traffic = self._generate("small", lines)
        self._replay(traffic, "small", f"replay of {lines:,} lines for why")
        return self.current, self._profile(self.current).events


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        return False
