"""The starter: applies adds and changes, decides every template, keeps limits, queues, time."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from domain.configs import Action, TemplateChanges, TemplateConfig

# `Decision` was defined here: still importable from this module.
from domain.decisions import Decision as Decision  # noqa: PLC0414 - an explicit re-export
from domain.elements import CascadeStep, Element, Origin
from domain.errors import (
    ChannelNotAllowed,
    ChannelOff,
    DocumentTypeFixed,
    ElementExists,
    ForeignElement,
    RepeatedElement,
    TemplateIncomplete,
    TimeGoesBack,
    UnknownElement,
)
from domain.faults import decision_order, per_template_constants, reverses_queue
from domain.json import JsonObject
from domain.portal import Portal
from domain.rules import LIST_MODULES, Change, Situation, decide, list_untuned, refuses_write
from domain.settings import PortalChanges
from domain.simulation import AgendaRecord, Checkpoint, Simulation
from domain.templates import Template
from domain.vocabulary import (
    DocumentType,
    ElementName,
    Outcome,
    ProcessEnd,
    Trigger,
    document_type,
    element_name,
)

MAX_CASCADE_DEPTH = 20
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A round of decisions: a generator that yields the rounds its processes' actions cause.
Round = Iterator["Round"]


class Elements(Protocol):
    """Where the starter finds elements and puts new ones (the application supplies it)."""

    def get(self, name: str) -> Element | None: ...

    def add(self, element: Element) -> None: ...


@dataclass(slots=True)
class _Execution:
    """One root of work: a traffic line, or a queued instance that starts later."""

    line: int
    chain: list[CascadeStep] = field(default_factory=list)
    halted: bool = False


class Starter:
    """Bitrix24's auto-start, applied to a stream of commands on a simulated clock."""

    def __init__(
        self,
        portal: Portal,
        templates: Iterable[Template],
        simulation: Simulation,
        elements: Elements,
        *,
        on_decision: Callable[[Decision], None],
        on_warning: Callable[[str], None],
        max_depth: int = MAX_CASCADE_DEPTH,
        faults: frozenset[str] = frozenset(),
    ) -> None:
        self.portal = portal
        self.order = decision_order(faults)
        self.lifo = reverses_queue(faults)
        self.list_wide_constants = not per_template_constants(faults)
        self.templates = {t.template: t for t in templates}
        self.elements = elements
        self.on_decision = on_decision
        self.on_warning = on_warning
        self.max_depth = max_depth
        self.clock: datetime | None = simulation.clock
        self.last_ids = dict(simulation.last_ids)
        # Processes created so far: completions due at one instant happen in creation order.
        self.created = simulation.created
        self.agenda: list[tuple[datetime, int, str, str]] = [
            _agenda_entry(entry) for entry in simulation.agenda
        ]
        heapq.heapify(self.agenda)
        self.queues = set(simulation.queues)
        self.by_type: dict[str, list[Template]] = {}
        for dt, ids in portal.templates.items():
            self.by_type[dt] = [self.templates[i] for i in sorted(ids)]

    # Time

    def tick(self, at: datetime) -> None:
        """Moves the clock to `at`: completions and queued starts due by then happen first."""
        if self.clock is not None and at < self.clock:
            raise TimeGoesBack(self.clock, at)
        while self.agenda and self.agenda[0][0] <= at:
            due, _, name, process = heapq.heappop(self.agenda)
            element = self.elements.get(name)
            if element is None or process not in element.running:
                continue  # terminated when its document was deleted
            self.clock = due
            element.complete_process(due, process)
            self._drain(element, due)
        self.clock = at

    @property
    def now(self) -> datetime:
        return self.clock or EPOCH

    def checkpoint(self) -> Checkpoint:
        """What the next replay into the same store needs to carry on."""
        return {
            "clock": self.clock,
            "last_ids": dict(sorted(self.last_ids.items())),
            "agenda": [[due, n, name, process] for due, n, name, process in sorted(self.agenda)],
            "queues": sorted(self.queues),
            "created": self.created,
        }

    # Settings

    def change_portal(self, changes: PortalChanges, *, actor: str | None, line: int) -> None:
        self.portal.change_settings(changes, self.now, actor, line)
        for name in sorted(self.queues):
            element = self.elements.get(name)
            if element is not None:
                self._drain(element, self.now)

    def configure_container(
        self, doc_type: str, enabled: bool, *, actor: str | None, line: int
    ) -> None:
        self.portal.configure_container(doc_type, enabled, self.now, actor, line)

    def configure_template(
        self, template_id: int, given: TemplateChanges, *, actor: str | None
    ) -> TemplateConfig:
        template = self.templates.get(template_id)
        changed_at = None if self.clock is None else self.clock.isoformat()
        if template is None:
            return self._register_template(template_id, given, actor, changed_at)
        old = template.config
        if given.get("document_type", old.document_type) != old.document_type:
            raise DocumentTypeFixed(old.document_type, given["document_type"])
        config = replace(
            old,
            version=old.version + 1,
            auto_execute=given.get("auto_execute", old.auto_execute),
            active=given.get("active", old.active),
            parameters=tuple(given.get("parameters", old.parameters)),
            constants=tuple(given.get("constants", old.constants)),
            duration_s=given.get("duration", old.duration_s),
            actions=tuple(given.get("actions", old.actions)),
            changed_by=actor,
            changed_at=changed_at,
        )
        template.reconfigure(config, sorted(given), self.now)
        return config

    def _register_template(
        self, template_id: int, given: TemplateChanges, actor: str | None, changed_at: str | None
    ) -> TemplateConfig:
        """A template's first line: its version 1, listed with its document type's others."""
        if "document_type" not in given:
            raise TemplateIncomplete("document_type")
        if "auto_execute" not in given:
            raise TemplateIncomplete("auto_execute")
        config = TemplateConfig(
            template=template_id,
            document_type=given["document_type"],
            version=1,
            auto_execute=given["auto_execute"],
            active=given.get("active", True),
            parameters=tuple(given.get("parameters", ())),
            constants=tuple(given.get("constants", ())),
            duration_s=given.get("duration", 0),
            actions=tuple(given.get("actions", ())),
            changed_by=actor,
            changed_at=changed_at,
        )
        template = Template.register(config, self.now)
        self.templates[template_id] = template
        self.portal.add_template(template_id, config.document_type, self.now)
        siblings = self.by_type.setdefault(config.document_type, [])
        siblings.append(template)
        siblings.sort(key=lambda t: t.template)
        return config

    # Documents

    def create(
        self,
        name: str,
        *,
        channel: str,
        line: int,
        actor: str | None = None,
        fields: JsonObject | None = None,
        parameters: JsonObject | None = None,
    ) -> None:
        parsed = element_name(name)
        self._check_channel(parsed.document_type, channel, Trigger.ADD)
        self._check_new(name, None)
        origin = Origin(line, 0, channel, actor, parameters or {}, None)
        self._run(self._add(parsed, origin, _Execution(line), fields or {}))

    def import_batch(
        self, doc_type: str, names: list[str], *, line: int, actor: str | None = None
    ) -> None:
        seen: set[str] = set()
        for index, name in enumerate(names):
            if element_name(name).document_type.name != doc_type:
                raise ForeignElement(name, doc_type, index)
            if name in seen:
                raise RepeatedElement(name, index)
            seen.add(name)
            self._check_new(name, index)
        for name in names:
            origin = Origin(line, 0, "import", actor, {}, None)
            self._run(self._add(element_name(name), origin, _Execution(line), {}))

    def update(
        self,
        name: str,
        *,
        channel: str,
        changed: JsonObject,
        line: int,
        actor: str | None = None,
        parameters: JsonObject | None = None,
    ) -> None:
        parsed = element_name(name)
        self._check_channel(parsed.document_type, channel, Trigger.CHANGE)
        element = self._existing(name)
        origin = Origin(line, 0, channel, actor, parameters or {}, None)
        self._run(self._change(element, parsed.document_type, origin, _Execution(line), changed))

    def delete(self, name: str, *, line: int, actor: str | None = None) -> None:
        element = self._existing(name)
        at = self.now
        for queued in list(element.queue):
            element.drop_process(at, queued["process"], ProcessEnd.DOCUMENT_DELETED)
        for process in sorted(element.running, key=_process_number):
            element.terminate_process(at, process, ProcessEnd.DOCUMENT_DELETED)
        self.queues.discard(name)
        element.delete(at, line=line, actor=actor)

    # Checks of the traffic against the state

    def _check_channel(self, doc_type: DocumentType, channel: str, trigger: Trigger) -> None:
        if not doc_type.allows(channel, trigger):
            raise ChannelNotAllowed(channel, doc_type, trigger)
        settings = self.portal.settings
        if channel == "email" and not settings.email_integration:
            raise ChannelOff(channel, "e-mail integration")
        if channel == "call" and not settings.telephony:
            raise ChannelOff(channel, "telephony")

    def _check_new(self, name: str, position: int | None) -> None:
        parsed = element_name(name)
        if parsed.id > self.last_ids.get(parsed.document_type.name, 0):
            return  # above every id ever used for the type: it never existed
        element = self.elements.get(name)
        if element is not None and element.written:
            raise ElementExists(name, position)

    def _existing(self, name: str) -> Element:
        element = self.elements.get(name)
        if element is None or element.deleted or not element.written:
            state = (
                "does not exist"
                if element is None
                else "was deleted"
                if element.deleted
                else "does not exist: the portal refused its add"
            )
            raise UnknownElement(name, state)
        return element

    # Rounds and cascades

    @staticmethod
    def _run(first: Round) -> None:
        """Runs a round and every round it causes, depth first, on an explicit stack.

        A cascade's depth is bounded by `max_depth` alone, never by Python's own stack.
        """
        stack = [first]
        while stack:
            caused = next(stack[-1], None)
            if caused is None:
                stack.pop()
            else:
                stack.append(caused)

    def _add(
        self, parsed: ElementName, origin: Origin, execution: _Execution, fields: JsonObject
    ) -> Round:
        """Creates the element now; returns its round, for `_run`."""
        name, dt = str(parsed), parsed.document_type
        change = Change(dt, Trigger.ADD, origin.channel, tuple(fields), origin.parameters)
        # Only a name at or below the last id used can have been named by a refused add.
        used = parsed.id <= self.last_ids.get(dt.name, 0)
        earlier = self.elements.get(name) if used else None
        if self._refused(change):
            if earlier is None:
                element = Element.refuse_add(name, self.now, origin, fields)
                self.elements.add(element)
            else:
                element = earlier
                element.refuse_change(self.now, Trigger.ADD.value, origin, fields)
        elif earlier is not None:  # a name whose earlier add the portal refused
            element = earlier
            element.add(self.now, origin, fields)
        else:
            element = Element.create(name, self.now, origin, fields)
            self.elements.add(element)
        self.last_ids[dt.name] = max(self.last_ids.get(dt.name, 0), parsed.id)
        return self._round(element, change, execution, origin.depth)

    def _refused(self, change: Change) -> bool:
        """Whether the portal refuses the write itself (lists REST, untuned constants)."""
        if not change.is_lists_rest:
            return False
        situation = Situation(
            self.portal.settings, True, 0, self._list_untuned(change.document_type)
        )
        return refuses_write(change, situation)

    def _list_untuned(self, dt: DocumentType) -> dict[int, list[str]]:
        if dt.module not in LIST_MODULES or not self.list_wide_constants:
            return {}
        return list_untuned([t.config for t in self.by_type.get(dt.name, ())])

    def _change(
        self,
        element: Element,
        dt: DocumentType,
        origin: Origin,
        execution: _Execution,
        changed: JsonObject,
    ) -> Round:
        """Changes the element now; returns its round, for `_run`."""
        change = Change(dt, Trigger.CHANGE, origin.channel, tuple(changed), origin.parameters)
        if self._refused(change):
            element.refuse_change(self.now, Trigger.CHANGE.value, origin, changed)
        else:
            element.change(self.now, origin, changed)
        return self._round(element, change, execution, origin.depth)

    def _round(self, element: Element, change: Change, execution: _Execution, depth: int) -> Round:
        """Decides every template of the type in ascending id, then runs what started."""
        dt = change.document_type
        container = self.portal.container_enabled(dt.name)
        untuned = self._list_untuned(dt)
        started: list[tuple[TemplateConfig, str]] = []
        for template in self.by_type.get(dt.name, ()):
            config = template.config
            situation = Situation(self.portal.settings, container, len(element.running), untuned)
            decision = self._decide(element, change, config, situation, execution.line, depth)
            if decision.process is not None:
                self._hold(element, config, decision, decision.process)
                if decision.outcome == Outcome.STARTED:
                    started.append((config, decision.process))
        yield from self._cascade(element, change, started, execution, depth)

    def _decide(
        self,
        element: Element,
        change: Change,
        config: TemplateConfig,
        situation: Situation,
        line: int,
        depth: int,
    ) -> Decision:
        """One template's decision, recorded on the element and handed on."""
        verdict = decide(change, config, situation, self.order)
        holds_process = verdict.outcome in (Outcome.STARTED, Outcome.QUEUED)
        process = element.next_process() if holds_process else None
        if holds_process:
            self.created += 1
        decision = Decision(
            line,
            depth,
            self.now,
            element.name,
            change.trigger.value,
            change.channel,
            config.template,
            config.version,
            verdict.outcome.value,
            verdict.reason.value,
            process,
            [check.as_record() for check in verdict.checks],
        )
        element.decide(decision)
        self.on_decision(decision)
        return decision

    def _hold(
        self, element: Element, config: TemplateConfig, decision: Decision, process: str
    ) -> None:
        """A started decision's process runs now; a queued one waits in the element's queue."""
        if decision.outcome == Outcome.STARTED:
            self._launch(
                element,
                process,
                config.template,
                config.version,
                config.duration_s,
                sequence=self.created,
            )
            return
        element.queue_process(
            decision.at,
            process=process,
            template=config.template,
            template_version=config.version,
            duration=config.duration_s,
            actions=list(config.actions),
            line=decision.line,
            depth=decision.depth,
            sequence=self.created,
        )
        self.queues.add(element.name)

    def _cascade(
        self,
        element: Element,
        change: Change,
        started: list[tuple[TemplateConfig, str]],
        execution: _Execution,
        depth: int,
    ) -> Round:
        """Runs the actions of the processes a round started, in the order they started."""
        for config, process in started:
            if execution.halted:
                return
            step: CascadeStep = {
                "depth": depth,
                "element": element.name,
                "trigger": change.trigger.value,
                "channel": change.channel,
                "template": config.template,
                "process": process,
            }
            execution.chain.append(step)
            yield from self._act(
                element,
                change.document_type,
                list(config.actions),
                process,
                execution=execution,
                depth=depth,
            )
            execution.chain.pop()

    def _launch(
        self,
        element: Element,
        process: str,
        template: int,
        version: int,
        duration_s: int,
        *,
        sequence: int,
    ) -> None:
        at = self.now
        element.start_process(
            at,
            process=process,
            template=template,
            template_version=version,
            from_queue=False,
            ends_at=at + timedelta(seconds=duration_s),
        )
        self._schedule_end(element, process, duration_s, sequence=sequence)

    def _schedule_end(
        self, element: Element, process: str, duration_s: int, *, sequence: int
    ) -> None:
        """An instance without duration completes at once; the others wait on the agenda."""
        at = self.now
        if duration_s == 0:
            element.complete_process(at, process)
        else:
            ends_at = at + timedelta(seconds=duration_s)
            heapq.heappush(self.agenda, (ends_at, sequence, element.name, process))

    def _act(
        self,
        element: Element,
        dt: DocumentType,
        actions: list[Action],
        process: str,
        *,
        execution: _Execution,
        depth: int,
    ) -> Round:
        """Runs an instance's actions, each a change through the bizproc channel, depth first."""
        for action in actions:
            if execution.halted:
                return
            if depth + 1 > self.max_depth:
                self._halt(element, execution, depth + 1)
                return
            made = Origin(execution.line, depth + 1, "bizproc", None, {}, process)
            if "update" in action:
                yield self._change(element, dt, made, execution, dict(action["update"]))
            else:
                new_type = document_type(action["create"])
                new_id = self.last_ids.get(new_type.name, 0) + 1
                yield self._add(ElementName(new_type, new_id), made, execution, {})

    def _halt(self, element: Element, execution: _Execution, depth: int) -> None:
        execution.halted = True
        chain = list(execution.chain)
        element.halt_cascade(self.now, line=execution.line, depth=depth, chain=chain)
        root = chain[0]["element"] if chain else element.name
        self.on_warning(
            f"line {execution.line}: runaway cascade stopped at depth {depth} on {element.name} "
            f"(started by {root}; {len(chain)} process-made changes in the chain)"
        )

    def _drain(self, element: Element, at: datetime) -> None:
        """Starts the head of the document's queue while a slot is free, first in first out."""
        limit = self.portal.settings.limit
        while (head := element.start_from_queue(at, limit, lifo=self.lifo)) is not None:
            self.clock = at
            self._schedule_end(
                element, head["process"], head["duration"], sequence=head.get("sequence", 0)
            )
            execution = _Execution(head["line"])
            execution.chain.append(
                {
                    "depth": head["depth"],
                    "element": element.name,
                    "trigger": "queue",
                    "channel": "queue",
                    "template": head["template"],
                    "process": head["process"],
                }
            )
            dt = element_name(element.name).document_type
            self._run(
                self._act(
                    element,
                    dt,
                    head["actions"],
                    head["process"],
                    execution=execution,
                    depth=head["depth"],
                )
            )
        if not element.queue:
            self.queues.discard(element.name)


def _process_number(process: str) -> int:
    return int(process.rsplit("#", 1)[1])


def _agenda_entry(entry: AgendaRecord) -> tuple[datetime, int, str, str]:
    """A stored agenda entry; stores made before creation order was kept have no sequence."""
    due, sequence, name, process = entry
    if isinstance(sequence, str):  # [due, element, number, process]: ordered as before
        sequence, name = 0, sequence
    if not (
        isinstance(due, datetime)
        and isinstance(sequence, int)
        and isinstance(name, str)
        and isinstance(process, str)
    ):
        raise TypeError(f"an agenda entry is [due, sequence, element, process], not {entry}")
    return due, sequence, name, process
