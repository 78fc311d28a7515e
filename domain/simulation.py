"""The simulated clock's bookkeeping: where each replay into the store started and ended."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.ids import stream_id
from domain.journal import JournaledAggregate

# A process's completion on the agenda, as kept: [due, sequence, element, process]. Stores made
# before the creation order was kept hold [due, element, number, process].
AgendaRecord: TypeAlias = list[datetime | int | str]


class Checkpoint(TypedDict):
    """What the next replay into the same store needs to carry on where this one stopped."""

    clock: datetime | None
    last_ids: dict[str, int]
    agenda: list[AgendaRecord]
    queues: list[str]
    created: int


class Simulation(JournaledAggregate):
    """Replays into one store, and what the next replay needs to carry on where one stopped."""

    # v2: the digest of the last finished replay's traffic, and the process creation count.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state["last_digest"] = ""
        state["created"] = 0

    class Begun(Aggregate.Created):
        pass

    class ReplayStarted(Aggregate.Event):
        source: str
        position: int

        def apply(self, simulation: Simulation) -> None:
            simulation.open_replay = self.position

    class ReplayFinished(Aggregate.Event):
        class_version = 2
        source: str
        lines: int
        clock: datetime | None
        last_ids: dict[str, int]
        agenda: list[AgendaRecord]
        queues: list[str]
        digest: str
        created: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["digest"] = ""
            state["created"] = 0

        def apply(self, simulation: Simulation) -> None:
            simulation.open_replay = None
            simulation.last_digest = self.digest
            simulation.created = self.created
            simulation.clock = self.clock
            simulation.last_ids = dict(self.last_ids)
            simulation.agenda = [list(entry) for entry in self.agenda]
            simulation.queues = list(self.queues)

    @staticmethod
    def create_id() -> UUID:
        return stream_id("simulation")

    def __init__(self) -> None:
        self.open_replay: int | None = None
        self.clock: datetime | None = None
        self.last_ids: dict[str, int] = {}
        self.agenda: list[AgendaRecord] = []
        self.queues: list[str] = []
        self.last_digest = ""
        self.created = 0

    @classmethod
    def begin(cls, at: datetime) -> Simulation:
        return cls._create(cls.Begun, timestamp=at)

    def start_replay(self, source: str, position: int, at: datetime) -> None:
        """`position` is the store's last notification id before this replay wrote anything."""
        self.trigger_event(self.ReplayStarted, timestamp=at, source=source, position=position)

    def finish_replay(
        self,
        *,
        source: str,
        lines: int,
        clock: datetime | None,
        last_ids: dict[str, int],
        agenda: list[AgendaRecord],
        queues: list[str],
        created: int,
        at: datetime,
        digest: str = "",
    ) -> None:
        """`digest`: the traffic's SHA-256 when known, so a repeat of it is recognised."""
        self.trigger_event(
            self.ReplayFinished,
            timestamp=at,
            source=source,
            lines=lines,
            clock=clock,
            last_ids=last_ids,
            agenda=agenda,
            queues=queues,
            digest=digest,
            created=created,
        )
