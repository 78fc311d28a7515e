"""The write path alone: a replayed store's events appended again, the replay's way and the
library's plain way, each timed apart from reading and decoding them."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.application import AutostartApplication, store_events
from domain.stores import StoreAddress
from simulations.bench.baselines import LibraryApplication

# The library's per-aggregate save() commits once a run of events: at a few thousand events a
# second it gets the first events only, enough for a steady rate.
SAVE_SAMPLE = 10_000


@dataclass
class WriteTimes:
    """Seconds each store's writes took, and what was written."""

    events: int = 0
    batches: int = 0
    saved_events: int = 0
    saves: int = 0
    batched: list[float] = field(default_factory=list)
    per_aggregate: list[float] = field(default_factory=list)


def write_again(
    source: StoreAddress,
    batch_events: int,
    batched: Sequence[StoreAddress],
    per_aggregate: Sequence[StoreAddress],
    save_sample: int = SAVE_SAMPLE,
) -> WriteTimes:
    """Reads the source's events a batch at a time, decodes each batch once, and appends it to
    every `batched` store with `store_events` (one transaction a batch, as the replay does),
    and its first `save_sample` events to every `per_aggregate` store with the library's
    `save()`, once per run of consecutive events of one aggregate (one transaction each).
    Only the writes are timed."""
    reader = AutostartApplication(source)
    fast = [AutostartApplication(store) for store in batched]
    plain = [LibraryApplication(store.env) for store in per_aggregate]
    times = WriteTimes(batched=[0.0] * len(fast), per_aggregate=[0.0] * len(plain))
    carried: list[Any] = []
    try:
        for events in _batches(reader, batch_events):
            times.events += len(events)
            times.batches += 1
            for i, app in enumerate(fast):
                started = time.perf_counter()
                store_events(app, events)
                times.batched[i] += time.perf_counter() - started
            if times.saved_events < save_sample:
                # A run may go on in the next batch: the last one waits for it.
                runs = list(_runs([*carried, *events]))
                carried = runs.pop()
                _save(plain, runs, times)
        if times.saved_events < save_sample and carried:
            _save(plain, [carried], times)
    finally:
        for each in [reader, *fast, *plain]:
            each.close()
    return times


def _batches(app: AutostartApplication, size: int) -> Iterator[list[Any]]:
    to_event = app.mapper.to_domain_event
    start = 1
    while notifications := app.recorder.select_notifications(start=start, limit=size):
        yield [to_event(notification) for notification in notifications]
        start = notifications[-1].id + 1


def _runs(events: list[Any]) -> Iterator[list[Any]]:
    """The events cut where the aggregate changes."""
    run: list[Any] = []
    for event in events:
        if run and event.originator_id != run[-1].originator_id:
            yield run
            run = []
        run.append(event)
    yield run


def _save(apps: list[LibraryApplication], runs: list[list[Any]], times: WriteTimes) -> None:
    for i, app in enumerate(apps):
        started = time.perf_counter()
        for run in runs:
            app.save(*run)
        times.per_aggregate[i] += time.perf_counter() - started
    times.saves += len(runs)
    times.saved_events += sum(len(run) for run in runs)
