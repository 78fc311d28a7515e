"""Simulate: generate a scenario's traffic, replay it, project it and check the laws, in one run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from domain.starter import MAX_CASCADE_DEPTH
from domain.stores import StoreAddress
from projections.database import ReadDatabase
from projections.runner import catch_up
from projections.summary import summarize
from projections.written import WrittenPages
from simulations.checker import Violation, check_store
from simulations.generate import generate
from simulations.overrides import ChangedTraffic, Override
from simulations.replay import ReplaySummary, open_store, replay
from simulations.scenario import Scenario


class StoreNotNewError(Exception):
    """simulate was asked for a new store, and the store already holds events."""


class StartTooEarlyError(Exception):
    """The traffic was asked to start before the store's clock: times never decrease."""


@dataclass(frozen=True, slots=True)
class SimulationResult:
    scenario: str
    replay: ReplaySummary
    summary: dict[str, Any]
    violations: list[Violation]
    unused_settings: tuple[str, ...] = ()
    # Seconds of each phase: generate, replay, fold, check (see `simulate`).
    phases: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "lines": self.replay.lines,
            "stored_events": self.replay.events,
            "warnings": self.replay.warnings,
            **self.summary,
            "violations": [v.as_dict() for v in self.violations],
            "phases": {
                phase: {"seconds": round(seconds, 3), "percent": percent}
                for (phase, seconds), percent in zip(
                    self.phases.items(), percentages(list(self.phases.values())), strict=True
                )
            },
        }


def percentages(parts: list[float]) -> list[int]:
    """Whole percentages of the total that add up to exactly 100 (largest remainders)."""
    total = sum(parts)
    if not parts or total <= 0:
        return [0] * len(parts)
    exact = [100 * part / total for part in parts]
    shares = [int(share) for share in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: shares[i] - exact[i])
    for i in by_remainder[: 100 - sum(shares)]:
        shares[i] += 1
    return shares


class TimedLines(Iterator[str]):
    """The traffic as the replay pulls it, with the seconds spent making it: generation runs
    interleaved with the replay, a line at a time, so only this tells the two apart."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = iter(lines)
        self.seconds = 0.0

    def __next__(self) -> str:
        started = time.perf_counter()
        try:
            return next(self.lines)
        finally:
            self.seconds += time.perf_counter() - started


def simulate(
    scenario: Scenario,
    store: StoreAddress,
    *,
    events: int | None = None,
    seed: int | None = None,
    faults: frozenset[str] = frozenset(),
    settings: Sequence[Override] = (),
    max_depth: int = MAX_CASCADE_DEPTH,
    start: datetime | None = None,
    new_store: bool = False,
    on_warning: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[int], None] = lambda _: None,
    on_phase: Callable[[str], None] = lambda _: None,
    deliver: Callable[[IO[str]], None] | None = None,
) -> SimulationResult:
    """Streams the generated traffic straight into the replay (nothing held in memory).

    `events` counts traffic lines. `settings` hold for the whole run, as `whatif` applies them
    (e.g. portal.limit_policy). A store that already holds events is continued: the traffic
    starts at its clock (or `start`, not before it) with ids after the ones it used; with
    `new_store` such a store is refused (StoreNotNewError). `on_phase` hears "replay",
    "project" and "check" as each begins. The result's `phases` are the seconds spent
    generating the traffic, replaying it (without the generating), folding the read models
    and checking the laws.
    """
    app = open_store(store)
    db: ReadDatabase | None = None
    written = WrittenPages()
    try:
        simulation = app.simulation()
        if new_store and app.position() > 0:
            raise StoreNotNewError(f"{store.describe()} already holds a simulation")
        clock = simulation.clock
        if start is not None and clock is not None and start < clock:
            raise StartTooEarlyError(
                f"the store's clock is at {clock.isoformat()}: start at or after it"
            )
        lines = generate(
            scenario,
            events=events,
            seed=seed,
            start=start if start is not None else clock,
            last_ids=simulation.last_ids,
        )
        changed = ChangedTraffic(settings) if settings else None
        if changed is not None:
            lines = changed.lines(lines)
        db = ReadDatabase(store)
        timed = TimedLines(lines)
        on_phase("replay")
        started = time.perf_counter()
        result = replay(
            app,
            timed,
            deliver,
            source=f"scenario:{scenario.name}",
            max_depth=max_depth,
            on_warning=on_warning,
            on_progress=on_progress,
            faults=faults,
            on_stored=written.stored,
        )
        replayed = time.perf_counter()
        on_phase("project")
        catch_up(app, db, on_progress=on_progress, written=written)
        folded = time.perf_counter()
        on_phase("check")
        summary = summarize(db)
        violations = check_store(db, max_depth=max_depth)
        checked = time.perf_counter()
        phases = {
            "generate": timed.seconds,
            "replay": replayed - started - timed.seconds,
            "fold": folded - replayed,
            "check": checked - folded,
        }
        unused = changed.unused() if changed is not None else ()
        return SimulationResult(scenario.name, result, summary, violations, unused, phases)
    finally:
        written.close()
        if db is not None:
            db.close()
        app.close()
