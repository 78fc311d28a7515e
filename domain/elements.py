"""A CRM item, Feed or list element, or Drive file: its changes, decisions and processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict, Unpack
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.configs import Action
from domain.decisions import CheckRecord, Decision
from domain.ids import stream_id
from domain.journal import JournaledAggregate
from domain.json import JsonObject


class OriginFields(TypedDict):
    """An origin as the fields of a change's event."""

    line: int
    depth: int
    channel: str
    actor: str | None
    parameters: JsonObject
    cause: str | None


class QueuedProcess(TypedDict):
    """An instance waiting in an element's queue: what it needs to start later and run."""

    process: str
    template: int
    template_version: int
    duration: int
    actions: list[Action]
    line: int
    depth: int
    sequence: int


class CascadeStep(TypedDict):
    """One process-made change in a cascade's chain: which process, started by what."""

    depth: int
    element: str
    trigger: str
    channel: str
    template: int
    process: str


@dataclass(frozen=True)
class Origin:
    """Where a change came from: its traffic line, cascade depth, channel, actor, parameter
    values and the process that made it (None for a traffic line's own change).

    The events of a change inherit these fields, so they are declared once and stay flat.
    """

    line: int
    depth: int
    channel: str
    actor: str | None
    parameters: JsonObject
    cause: str | None

    def payload(self) -> OriginFields:
        """The origin as event fields."""
        return {
            "line": self.line,
            "depth": self.depth,
            "channel": self.channel,
            "actor": self.actor,
            "parameters": self.parameters,
            "cause": self.cause,
        }


class Element(JournaledAggregate):
    """One Bitrix element; the per-document limit and queue live here, with the decisions."""

    class Created(Aggregate.Created, Origin):
        name: str
        fields: JsonObject

    class AddRefused(Aggregate.Created, Origin):
        """The portal refused the add: the decisions are kept, no element was written."""

        name: str
        fields: JsonObject

        def apply(self, element: Element) -> None:
            element.written = False

    class Added(Aggregate.Event, Origin):
        """An element written under a name whose earlier add the portal had refused."""

        revision: int
        fields: JsonObject

        def apply(self, element: Element) -> None:
            element.revision = self.revision
            element.written = True

    class WriteRefused(Aggregate.Event, Origin):
        """The portal refused a change: the fields stay as they were, the decisions are kept."""

        revision: int
        trigger: str
        changed: JsonObject

        def apply(self, element: Element) -> None:
            element.revision = self.revision

    class Changed(Aggregate.Event, Origin):
        revision: int
        changed: JsonObject

        def apply(self, element: Element) -> None:
            element.revision = self.revision

    class Deleted(Aggregate.Event):
        revision: int
        line: int
        actor: str | None

        def apply(self, element: Element) -> None:
            element.revision = self.revision
            element.deleted = True

    class Decided(Aggregate.Event):
        line: int
        depth: int
        revision: int
        trigger: str
        channel: str
        template: int
        template_version: int
        outcome: str
        reason: str
        process: str | None
        checks: list[CheckRecord]

        def apply(self, element: Element) -> None:
            if self.process is not None:
                element.processes += 1

    class ProcessQueued(Aggregate.Event):
        class_version = 2  # v2: `sequence`, the process's place in creation order
        process: str
        template: int
        template_version: int
        duration: int
        actions: list[Action]
        line: int
        depth: int
        sequence: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["sequence"] = 0

        def apply(self, element: Element) -> None:
            element.queue.append(
                {
                    "process": self.process,
                    "template": self.template,
                    "template_version": self.template_version,
                    "duration": self.duration,
                    "actions": self.actions,
                    "line": self.line,
                    "depth": self.depth,
                    "sequence": self.sequence,
                }
            )

    class ProcessStarted(Aggregate.Event):
        process: str
        template: int
        template_version: int
        from_queue: bool
        ends_at: datetime

        def apply(self, element: Element) -> None:
            if self.from_queue:
                element.queue = [q for q in element.queue if q["process"] != self.process]
            element.running[self.process] = self.ends_at

    class ProcessCompleted(Aggregate.Event):
        process: str

        def apply(self, element: Element) -> None:
            del element.running[self.process]

    class ProcessDropped(Aggregate.Event):
        process: str
        reason: str

        def apply(self, element: Element) -> None:
            element.queue = [q for q in element.queue if q["process"] != self.process]

    class ProcessTerminated(Aggregate.Event):
        process: str
        reason: str

        def apply(self, element: Element) -> None:
            del element.running[self.process]

    class CascadeHalted(Aggregate.Event):
        line: int
        depth: int
        chain: list[CascadeStep]

    @staticmethod
    def create_id(name: str) -> UUID:
        return stream_id("element", name)

    def __init__(self, *, name: str, **created: object) -> None:
        # `created`: the origin and fields of the first change (Created or AddRefused).
        self.name = name
        self.revision = 1
        self.deleted = False
        self.written = True
        self.processes = 0
        self.running: dict[str, datetime] = {}
        self.queue: list[QueuedProcess] = []

    @classmethod
    def create(cls, name: str, at: datetime, origin: Origin, fields: JsonObject) -> Element:
        created = origin.payload()
        return cls._create(cls.Created, timestamp=at, name=name, fields=fields, **created)

    @classmethod
    def refuse_add(cls, name: str, at: datetime, origin: Origin, fields: JsonObject) -> Element:
        refused = origin.payload()
        return cls._create(cls.AddRefused, timestamp=at, name=name, fields=fields, **refused)

    def add(self, at: datetime, origin: Origin, fields: JsonObject) -> None:
        """Writes the element whose earlier add was refused (its name never held an element)."""
        self.trigger_event(
            self.Added,
            timestamp=at,
            revision=self.revision + 1,
            fields=fields,
            **origin.payload(),
        )

    def refuse_change(
        self, at: datetime, trigger: str, origin: Origin, changed: JsonObject
    ) -> None:
        self.trigger_event(
            self.WriteRefused,
            timestamp=at,
            revision=self.revision + 1,
            trigger=trigger,
            changed=changed,
            **origin.payload(),
        )

    def change(self, at: datetime, origin: Origin, changed: JsonObject) -> None:
        self.trigger_event(
            self.Changed,
            timestamp=at,
            revision=self.revision + 1,
            changed=changed,
            **origin.payload(),
        )

    def delete(self, at: datetime, *, line: int, actor: str | None) -> None:
        self.trigger_event(
            self.Deleted, timestamp=at, revision=self.revision + 1, line=line, actor=actor
        )

    def next_process(self) -> str:
        return f"{self.name}#{self.processes + 1}"

    def decide(self, decision: Decision) -> None:
        self.trigger_event(
            self.Decided,
            timestamp=decision.at,
            revision=self.revision,
            **decision.event_fields(),
        )

    def queue_process(self, at: datetime, **queued: Unpack[QueuedProcess]) -> None:
        self.trigger_event(self.ProcessQueued, timestamp=at, **queued)

    def start_process(
        self,
        at: datetime,
        *,
        process: str,
        template: int,
        template_version: int,
        from_queue: bool,
        ends_at: datetime,
    ) -> None:
        self.trigger_event(
            self.ProcessStarted,
            timestamp=at,
            process=process,
            template=template,
            template_version=template_version,
            from_queue=from_queue,
            ends_at=ends_at,
        )

    def has_free_slot(self, limit: int) -> bool:
        """Whether one more instance may run on this document (a limit of 0: no limit)."""
        return limit == 0 or len(self.running) < limit

    def start_from_queue(
        self, at: datetime, limit: int, *, lifo: bool = False
    ) -> QueuedProcess | None:
        """Starts the queue's head if a slot is free, first in first out; returns it, or None.

        `lifo` takes the newest instead (a planted fault the checker must catch).
        """
        if not self.queue or not self.has_free_slot(limit):
            return None
        head = self.queue[-1 if lifo else 0]
        self.start_process(
            at,
            process=head["process"],
            template=head["template"],
            template_version=head["template_version"],
            from_queue=True,
            ends_at=at + timedelta(seconds=head["duration"]),
        )
        return head

    def complete_process(self, at: datetime, process: str) -> None:
        self.trigger_event(self.ProcessCompleted, timestamp=at, process=process)

    def drop_process(self, at: datetime, process: str, reason: str) -> None:
        self.trigger_event(self.ProcessDropped, timestamp=at, process=process, reason=reason)

    def terminate_process(self, at: datetime, process: str, reason: str) -> None:
        self.trigger_event(self.ProcessTerminated, timestamp=at, process=process, reason=reason)

    def halt_cascade(
        self, at: datetime, *, line: int, depth: int, chain: list[CascadeStep]
    ) -> None:
        self.trigger_event(self.CascadeHalted, timestamp=at, line=line, depth=depth, chain=chain)
