"""The order events happen in, across aggregates: saved in that order, read back in that order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Self, TypeAlias
from uuid import UUID

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate

# A new event of an aggregate, not yet saved.
PendingEvent: TypeAlias = CanMutateAggregate[UUID]

_JOURNAL: ContextVar[list[PendingEvent] | None] = ContextVar("journal", default=None)


@contextmanager
def journal() -> Iterator[list[PendingEvent]]:
    """Inside, every new event of a journaled aggregate is also listed here, in order."""
    events: list[PendingEvent] = []
    token = _JOURNAL.set(events)
    try:
        yield events
    finally:
        _JOURNAL.reset(token)


class JournaledAggregate(Aggregate):
    """An aggregate whose new events join the journal, so a batch saves in causal order."""

    # The library's signatures, with `object` for the event fields: any value, passed on unread.
    @classmethod
    def _create(
        cls, event_class: type[CanInitAggregate[UUID]], *, id: UUID | None = None, **kwargs: object
    ) -> Self:
        aggregate = super()._create(event_class, id=id, **kwargs)
        events = _JOURNAL.get()
        if events is not None:
            events.append(aggregate.pending_events[-1])
        return aggregate

    def trigger_event(self, event_class: type[PendingEvent], **kwargs: object) -> None:
        super().trigger_event(event_class, **kwargs)
        events = _JOURNAL.get()
        if events is not None:
            events.append(self.pending_events[-1])
