"""Simulate: generate a scenario's traffic, replay it, project it and check the laws, in one run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from domain.starter import MAX_CASCADE_DEPTH
from domain.stores import StoreAddress
from projections.database import ReadDatabase
from projections.runner import catch_up
from projections.summary import summarize
from simulations.checker import Violation, check_store
from simulations.generate import generate
from simulations.overrides import ChangedTraffic, Override
from simulations.replay import ReplaySummary, open_store, replay
from simulations.scenario import Scenario


@dataclass(frozen=True, slots=True)
class SimulationResult:
    scenario: str
    replay: ReplaySummary
    summary: dict[str, Any]
    violations: list[Violation]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "lines": self.replay.lines,
            "events": self.replay.events,
            "warnings": self.replay.warnings,
            **self.summary,
            "violations": [v.as_dict() for v in self.violations],
        }


def simulate(
    scenario: Scenario,
    store: StoreAddress,
    *,
    events: int | None = None,
    seed: int | None = None,
    faults: frozenset[str] = frozenset(),
    settings: Sequence[Override] = (),
    max_depth: int = MAX_CASCADE_DEPTH,
    on_warning: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[int], None] = lambda _: None,
    deliver: Callable[[IO[str]], None] = lambda _: None,
) -> SimulationResult:
    """Streams the generated traffic straight into the replay (nothing held in memory).

    `settings` hold for the whole run, as `whatif` applies them (e.g. portal.limit_policy).
    """
    lines = generate(scenario, events=events, seed=seed)
    if settings:
        lines = ChangedTraffic(settings).lines(lines)
    app = open_store(store)
    db = ReadDatabase(store)
    try:
        result = replay(
            app,
            lines,
            deliver,
            source=f"scenario:{scenario.name}",
            max_depth=max_depth,
            on_warning=on_warning,
            on_progress=on_progress,
            faults=faults,
        )
        catch_up(app, db)
        return SimulationResult(
            scenario.name, result, summarize(db), check_store(db, max_depth=max_depth)
        )
    finally:
        db.close()
        app.close()
