"""The order events happen in, across aggregates: saved in that order, read back in that order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Self

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate

_JOURNAL: ContextVar[list[Any] | None] = ContextVar("journal", default=None)


@contextmanager
def journal() -> Iterator[list[Any]]:
    """Inside, every new event of a journaled aggregate is also listed here, in order."""
    events: list[Any] = []
    token = _JOURNAL.set(events)
    try:
        yield events
    finally:
        _JOURNAL.reset(token)


class JournaledAggregate(Aggregate):
    """An aggregate whose new events join the journal, so a batch saves in causal order."""

    @classmethod
    def _create(
        cls, event_class: type[CanInitAggregate[Any]], *, id: Any = None, **kwargs: Any
    ) -> Self:
        aggregate = super()._create(event_class, id=id, **kwargs)
        events = _JOURNAL.get()
        if events is not None:
            events.append(aggregate.pending_events[-1])
        return aggregate

    def trigger_event(self, event_class: type[CanMutateAggregate[Any]], **kwargs: Any) -> None:
        super().trigger_event(event_class, **kwargs)
        events = _JOURNAL.get()
        if events is not None:
            events.append(self.pending_events[-1])
