"""The thin application layer: the event store, and the aggregates a replay works on."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Recording
from eventsourcing.utils import Environment

from domain.elements import Element
from domain.ids import stream_id
from domain.journal import PendingEvent
from domain.portal import Portal
from domain.simulation import Simulation
from domain.starter import EPOCH
from domain.stores import StoreAddress, store_environment
from domain.takeback import take_back
from domain.templates import Template


class AutostartApplication(Application[UUID]):
    """The store of every fact: portal, templates, elements, decisions and processes."""

    name = "autostart"

    def __init__(self, store: StoreAddress, env: dict[str, str] | None = None) -> None:
        self.store = store
        super().__init__({**store.env, **(env or {})})

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # `--store` beats the shell's AUTOSTART_*, SQLITE_*, POSTGRES_* (see store_environment).
        return store_environment(name, type(self).env, env)

    def portal(self) -> Portal:
        try:
            portal: Portal = self.repository.get(Portal.create_id())
        except AggregateNotFoundError:
            return Portal.open(EPOCH)
        return portal

    def simulation(self) -> Simulation:
        try:
            simulation: Simulation = self.repository.get(Simulation.create_id())
        except AggregateNotFoundError:
            return Simulation.begin(EPOCH)
        return simulation

    def templates(self, portal: Portal) -> list[Template]:
        ids = sorted(i for ids in portal.templates.values() for i in ids)
        return [self.repository.get(stream_id("template", i)) for i in ids]

    def element(self, name: str) -> Element | None:
        try:
            element: Element = self.repository.get(Element.create_id(name))
        except AggregateNotFoundError:
            return None
        return element

    def position(self) -> int:
        """The last notification id in the store (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def truncate(self, position: int) -> None:
        """Removes every event recorded after `position`: a refused replay leaves no trace."""
        take_back(self.recorder, self.store.kind, position)


def store_events(app: AutostartApplication, events: list[PendingEvent]) -> list[Recording[UUID]]:
    """The write path: appends a batch of new events, in the order given, in one transaction.

    Through the application's public event store: `save(*events)` would do the same but checks
    each event against the library's runtime Protocols (13% of a replay's time on Python 3.11).
    Returns each event with its notification (its position in the store).
    """
    return app.events.put(list(events))


# Told of each batch a journaled workspace stored: the events with their positions, and the
# names of the elements they belong to (an element's later events carry only its stream id).
OnStored = Callable[[Sequence[Recording[UUID]], Mapping[UUID, str]], None]


class Workspace:
    """The elements a replay works on: unsaved ones, then recently used ones, then the store."""

    def __init__(
        self,
        app: AutostartApplication,
        cache_size: int = 20_000,
        journal: list[PendingEvent] | None = None,
        on_stored: OnStored | None = None,
    ) -> None:
        self.app = app
        self.on_stored = on_stored
        self.cache_size = cache_size
        self.journal = journal
        self.touched: dict[str, Element] = {}
        self.cache: OrderedDict[str, Element] = OrderedDict()

    def get(self, name: str) -> Element | None:
        element = self.touched.get(name)
        if element is not None:
            return element
        element = self.cache.pop(name, None)
        if element is None:
            element = self.app.element(name)
            if element is None:
                return None
        self.touched[name] = element
        return element

    def add(self, element: Element) -> None:
        self.touched[element.name] = element

    def flush(self, *others: Portal | Simulation | Template) -> int:
        """Saves every pending event in one transaction, in the order they happened.

        With a journal the events go to the store in causal order across aggregates, so the
        notification log (and every read model) lists them as they happened.
        """
        aggregates = [a for a in (*self.touched.values(), *others) if a.pending_events]
        count = sum(len(a.pending_events) for a in aggregates)
        if self.journal is None:
            if aggregates:
                self.app.save(*aggregates)
        elif count:
            if count != len(self.journal):
                msg = f"{count} pending events but {len(self.journal)} in the journal"
                raise RuntimeError(msg)
            for aggregate in aggregates:
                aggregate.collect_events()
            recordings = store_events(self.app, self.journal)
            self.journal.clear()
            if self.on_stored is not None:
                names = {element.id: name for name, element in self.touched.items()}
                self.on_stored(recordings, names)
        for name, element in self.touched.items():
            self.cache[name] = element
            self.cache.move_to_end(name)
        self.touched.clear()
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return count
