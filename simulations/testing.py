"""TemplateSetupMachine: stateful testing of one template set-up under random traffic."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import IO, Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.errors import InvalidDefinition
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from domain.stores import parse_store
from simulations.replay import open_store, replay
from simulations.strategies import (
    Line,
    TrafficState,
    changed_fields,
    importable,
    parameter_values,
)

Decision = dict[str, Any]

STARTS = frozenset({"started", "queued"})  # a queued instance starts once a slot frees
PROCESS_CHANNELS = frozenset({"bizproc", "robot"})  # changes made by a process or a robot
_CHANGE_KEYS = ("line", "depth", "at", "element", "trigger", "channel")


class TemplateSetupMachine(RuleBasedStateMachine):
    """Random traffic, one line a step, replayed into a store that holds your set-up.

    Subclass it, give `setup` (your portal, container and template lines, as dicts) and
    `document_types` (the types whose elements the traffic creates, updates, imports and
    deletes; by default those of your templates), and collect `YourMachine.TestCase`.
    Each step replays one more line into the same store, so the clock, the queues and the
    process ids carry on. `last_decisions` holds the SPEC decision dicts of the last step
    (each step is a one-line replay, so their `line` is 1), `all_decisions` every decision
    so far, the set-up's first. Add your laws as `@invariant()` methods and your own traffic
    as `@rule()` methods calling `self.send(line)`; a rule of yours that deletes an element
    of the bundle `elements` should take it with `consumes(TemplateSetupMachine.elements)`.
    The built-in laws hold for every set-up, and check the steps (not the set-up's lines).
    """

    setup: ClassVar[list[Line]] = []
    document_types: ClassVar[list[str]] = []
    faults: ClassVar[frozenset[str]] = frozenset()  # planted (domain.faults): do the laws bite?

    elements: Bundle[str] = Bundle("elements")

    def __init__(self) -> None:
        super().__init__()
        self.app = open_store(parse_store("memory:"))
        self.state = TrafficState()
        self.last_line: Line | None = None
        self.last_decisions: list[Decision] = []
        self.templates_before: dict[str, list[int]] = {}
        self.within_bp = False
        try:
            self.setup_decisions = self._replay(self.setup)
        except BaseException:
            self.app.close()
            raise
        self.all_decisions: list[Decision] = list(self.setup_decisions)
        for line in self.setup:
            self.state.apply(line)
        self.types = list(self.document_types) or sorted(self.state.templates)
        if not self.types:
            self.app.close()
            raise InvalidDefinition(
                f"{type(self).__name__} needs document_types, or templates in its setup"
            )

    def send(self, line: Line) -> list[Decision]:
        """Replays one more traffic line into the store; returns (and keeps) its decisions."""
        note(json.dumps(line))
        self.templates_before = self.state.templates
        within_bp_before = self.state.settings.start_bp_within_bp

        decisions = self._replay([line])

        self.state.apply(line)
        # A portal line decides what it drains from the queues under its new settings.
        self.within_bp = within_bp_before or self.state.settings.start_bp_within_bp
        self.last_line = line
        self.last_decisions = decisions
        self.all_decisions += decisions
        return decisions

    def _replay(self, lines: list[Line]) -> list[Decision]:
        out = io.StringIO()

        def deliver(decisions: IO[str]) -> None:
            out.write(decisions.read())

        replay(self.app, [json.dumps(line) for line in lines], deliver, faults=self.faults)
        return [json.loads(text) for text in out.getvalue().splitlines()]

    def stamp(self) -> str:
        return self.state.clock.isoformat()

    def new_element(self, name: str, gap: int) -> str:
        """An element of type `name` no one has used, processes included."""
        if name not in self.state.created_types:
            return self.state.fresh_element(name, gap)
        # Processes may have taken the next ids: the store knows which.
        return self.state.fresh_element(name, gap, self.app.simulation().last_ids.get(name, 0))

    def draw_channel(self, data: st.DataObject, name: str, op: str) -> str:
        return data.draw(st.sampled_from(self.state.channels(name, op)), label="channel")

    def draw_extras(self, data: st.DataObject) -> Line:
        """Optional `parameters` (names from the set-up's templates) and `actor`."""
        optional = {
            "parameters": parameter_values(self.state.parameter_names),
            "actor": st.sampled_from(["user_1", "user_7"]),
        }
        extras: Line = data.draw(st.fixed_dictionaries({}, optional=optional), label="extras")
        return extras

    # Traffic

    @rule(target=elements, data=st.data(), gap=st.integers(1, 3))
    def create_element(self, data: st.DataObject, gap: int) -> Any:
        name = data.draw(st.sampled_from(self.types), label="document_type")
        element = self.new_element(name, gap)
        channel = self.draw_channel(data, name, "create")
        refused = self.state.refuses(name, channel)
        line: Line = {"op": "create", "at": self.stamp(), "element": element, "channel": channel}
        self.send(line | self.draw_extras(data))
        # An add the portal refused made no element: no later line may name it.
        return multiple() if refused else multiple(element)

    @precondition(lambda self: bool(importable(self.types)))
    @rule(target=elements, data=st.data(), count=st.integers(1, 3))
    def import_elements(self, data: st.DataObject, count: int) -> Any:
        name = data.draw(st.sampled_from(importable(self.types)), label="document_type")
        names = [self.new_element(name, 1) for _ in range(count)]
        line = {"op": "import", "at": self.stamp(), "document_type": name, "elements": names}
        self.send(line | {"file": f"{name}.csv"})
        return multiple(*names)

    @rule(element=elements, data=st.data(), changed=changed_fields())
    def update_element(self, element: str, data: st.DataObject, changed: Line) -> None:
        name = element.rsplit(":", 1)[0]
        line: Line = {
            "op": "update",
            "at": self.stamp(),
            "element": element,
            "channel": self.draw_channel(data, name, "update"),
            "changed": changed,
        }
        self.send(line | self.draw_extras(data))

    @rule(element=consumes(elements))
    def delete_element(self, element: str) -> None:
        self.send({"op": "delete", "at": self.stamp(), "element": element})

    @rule(seconds=st.one_of(st.sampled_from([60, 600, 3600]), st.integers(1, 86_400)))
    def let_time_pass(self, seconds: int) -> None:
        """An empty portal line moves the clock: what is due by then completes or starts."""
        self.state.clock += timedelta(seconds=seconds)
        self.send({"op": "portal", "at": self.stamp()})

    # Laws every set-up satisfies

    @invariant()
    def no_process_starts_from_an_import(self) -> None:
        for decision in self.last_decisions:
            if decision["channel"] == "import":
                _law(decision["outcome"] not in STARTS, "an import started a process", decision)

    @invariant()
    def no_process_starts_from_a_process_made_change_unless_allowed(self) -> None:
        """Only CRM, and only with the portal option start_bp_within_bp on."""
        for decision in self.last_decisions:
            if decision["channel"] in PROCESS_CHANNELS and decision["outcome"] in STARTS:
                # A file a process creates in Drive is a first version, decided like an upload.
                process_file = decision["element"].startswith("disk.") and (
                    decision["trigger"] == "add"
                )
                allowed = process_file or (
                    self.within_bp and decision["element"].startswith("crm.")
                )
                _law(allowed, "a process-made change started a process", decision)

    @invariant()
    def every_change_gets_one_decision_per_template(self) -> None:
        changes = rounds(self.last_decisions)
        for decisions in changes:
            name = decisions[0]["element"].rsplit(":", 1)[0]
            decided = [d["template"] for d in decisions]
            expected = self.templates_before.get(name, [])
            _law(decided == expected, f"templates {expected} should decide", decisions)
        roots = [(ds[0]["element"], ds[0]["trigger"]) for ds in changes if ds[0]["depth"] == 0]
        _law(roots == self.root_changes(), "every change the line made gets decided", roots)

    def root_changes(self) -> list[tuple[str, str]]:
        """The adds and changes the last line made itself, of types that have templates."""
        line = self.last_line or {}
        op = line.get("op")
        if op == "import":
            made = [(element, "add") for element in line["elements"]]
        elif op in ("create", "update"):
            made = [(line["element"], "add" if op == "create" else "change")]
        else:
            made = []
        return [(e, trigger) for e, trigger in made if e.rsplit(":", 1)[0] in self.templates_before]

    def teardown(self) -> None:
        self.app.close()


def rounds(decisions: list[Decision]) -> list[list[Decision]]:
    """Decisions grouped by the add or change they decide (a run of ascending template ids)."""
    grouped: list[list[Decision]] = []
    for decision in decisions:
        previous = grouped[-1][-1] if grouped else None
        if (
            previous is not None
            and all(previous[k] == decision[k] for k in _CHANGE_KEYS)
            and previous["template"] < decision["template"]
        ):
            grouped[-1].append(decision)
        else:
            grouped.append([decision])
    return grouped


def _law(holds: bool, law: str, evidence: object) -> None:
    """Like `assert`, but kept under `python -O`."""
    if not holds:
        raise AssertionError(f"{law}: {evidence}")
