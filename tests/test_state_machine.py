"""A state machine over the replay, checked line by line against a plain model of the SPEC.

The model below is written from SPEC.md alone (it imports nothing from `domain.rules` or
`domain.starter`), so a bug in the rules shows up as a disagreement instead of being copied.
Scope: crm.deal, crm.lead, the Feed list feed.iblock_22 and the Drive storage disk.storage_1;
templates with any auto_execute, active or not, an optional parameter and constant, a duration
of 0, 60 or 600 s and up to two `update` actions; portal lines changing the edition, plan,
licence, features, `start_bp_within_bp`, the limit and its policy; container lines; creates,
imports, updates (sometimes with nothing changed) and deletes; time moving forward.

Where the SPEC is silent the model takes the implementation's reading:
- a portal line frees the queues of its documents in order of element name (as strings:
  `crm.deal:10` before `crm.deal:9`); completions due at the same instant happen in the order
  their processes were created (the SPEC's time rule), a queued one keeping its decision's place;
- a queued instance that starts later is the root of its own cascade (it keeps the `line` and
  `depth` of the decision that queued it, but not the halt of that line's runaway).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)
from replaying import START, replay_into

from domain.application import AutostartApplication
from domain.stores import parse_store
from simulations.replay import open_store

Line = dict[str, Any]
Row = dict[str, Any]

CRM_TYPES = ("crm.deal", "crm.lead")
FEED = "feed.iblock_22"
DRIVE = "disk.storage_1"
DOCUMENT_TYPES = (*CRM_TYPES, FEED, DRIVE)

# The SPEC's channel table, restricted to the scope above (a dash is a missing channel).
ADD_CHANNELS = {
    "crm": ("ui", "web_form", "call", "rest", "rest_item", "import", "bizproc", "system",
            "robot_conversion"),
    "feed": ("ui", "feed", "rest", "iblock_api", "bizproc", "import"),
    "disk": ("ui", "rest", "sync", "bizproc"),
}  # fmt: skip
CHANGE_CHANNELS = {
    "crm": ("ui", "web_form", "call", "rest", "rest_item", "import", "bizproc", "robot",
            "system", "trigger_stage_change"),
    "feed": ADD_CHANNELS["feed"],
    "disk": ADD_CHANNELS["disk"],
}  # fmt: skip
# On-premise background starts: e-mail and open-line adds start at once and meet the limit.
BACKGROUND_CHANNELS = {"add": frozenset({"call", "web_form"}),
                       "change": frozenset({"call", "web_form", "open_line"})}  # fmt: skip
REST_LICENCES = frozenset({"paid", "nfr", "demo"})
PLANS_WITHOUT_FEATURES = frozenset({"free", "basic"})
EDITION_DEFAULTS = {"cloud": (2, "queue"), "on_premise": (0, "reject")}
MAX_DEPTH = 20
UNLIMITED = math.inf


def module_of(document_type: str) -> str:
    return document_type.split(".", 1)[0]


def is_missing(value: object) -> bool:
    """The SPEC: a value or default that is absent, null or "" counts as missing."""
    return value is None or value == ""


# The plain model


@dataclass
class TemplateModel:
    id: int
    document_type: str
    version: int
    auto_execute: int
    active: bool = True
    parameters: list[dict[str, Any]] = field(default_factory=list)
    constants: list[dict[str, Any]] = field(default_factory=list)
    duration: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Waiting:
    """A queued instance, with the configuration it was queued with."""

    process: str
    template: int
    duration: int
    actions: tuple[dict[str, Any], ...]
    line: int
    depth: int
    created: int  # its place in the order processes were created, across the whole run


@dataclass(frozen=True)
class Running:
    ends: datetime
    created: int
    started: int  # the order in which it really started, across the whole run
    limit_seen: float  # the limit it had to fit under (inf when unlimited or bypassed)


@dataclass
class ElementModel:
    name: str
    document_type: str
    processes: int = 0
    running: dict[str, Running] = field(default_factory=dict)
    queue: list[Waiting] = field(default_factory=list)
    deleted: bool = False
    written: bool = True  # False when the portal refused its add


@dataclass
class PortalModel:
    edition: str = "cloud"
    plan: str = "professional"
    licence: str = "paid"
    bizproc: bool = True
    lists_processes: bool = True
    start_bp_within_bp: bool = False
    limit: int = 2
    policy: str = "queue"
    containers: dict[str, bool] = field(default_factory=dict)

    def change(self, changes: dict[str, Any]) -> None:
        edition = changes.get("edition", self.edition)
        if edition != self.edition:
            self.edition = edition
            self.limit, self.policy = EDITION_DEFAULTS[edition]
        if "plan" in changes:
            self.plan = changes["plan"]
            self.bizproc = self.lists_processes = self.plan not in PLANS_WITHOUT_FEATURES
        self.licence = changes.get("licence", self.licence)
        self.start_bp_within_bp = changes.get("start_bp_within_bp", self.start_bp_within_bp)
        self.limit = changes.get("limit_simultaneous_processes", self.limit)
        self.policy = changes.get("limit_policy", self.policy)
        features = changes.get("features", {})
        self.bizproc = features.get("bizproc", self.bizproc)
        self.lists_processes = features.get("lists_processes", self.lists_processes)


@dataclass
class Root:
    """The root of a cascade: a traffic line, or a queued instance that starts later."""

    line: int
    halted: bool = False


class Model:
    """What the SPEC says a store holds and decides, kept as plain Python."""

    def __init__(self) -> None:
        self.portal = PortalModel()
        self.templates: dict[int, TemplateModel] = {}
        self.elements: dict[str, ElementModel] = {}
        self.last_ids: dict[str, int] = {}
        self.now = START
        self.starts = 0
        self.created = 0
        self.rows: list[Row] = []  # decisions of the current line, `line` as in one file
        self.warnings = 0
        self.touched: set[str] = set()

    def take(self) -> tuple[list[Row], int, set[str]]:
        """The decisions, warnings and elements touched since the last call."""
        taken = self.rows, self.warnings, self.touched
        self.rows, self.warnings, self.touched = [], 0, set()
        return taken

    # Time

    def tick(self, at: datetime) -> None:
        """Completions (and the queued starts they let in) due at or before `at`, in time order."""
        while True:
            due = [
                (run.ends, run.created, element.name, process)
                for element in self.elements.values()
                for process, run in element.running.items()
                if run.ends <= at
            ]
            if not due:
                break
            ends, _, name, process = min(due)
            element = self.elements[name]
            self.now = ends
            del element.running[process]
            self.touched.add(name)
            self.drain(element)
        self.now = at

    def drain(self, element: ElementModel) -> None:
        """Starts the head of the queue while a slot is free."""
        limit = self.portal.limit
        while element.queue and (limit == 0 or len(element.running) < limit):
            head = element.queue.pop(0)
            self.launch(element, head.process, head.duration, limit or UNLIMITED, head.created)
            self.act(element, list(head.actions), Root(head.line), head.depth)

    def launch(
        self, element: ElementModel, process: str, duration: int, limit: float, created: int
    ) -> None:
        self.starts += 1
        self.touched.add(element.name)
        if duration > 0:  # with duration 0 it completes at once and never holds a slot
            ends = self.now + timedelta(seconds=duration)
            element.running[process] = Running(ends, created, self.starts, limit)

    # Settings

    def change_portal(self, changes: dict[str, Any]) -> None:
        self.portal.change(changes)
        for name in sorted(self.elements):
            element = self.elements[name]
            if element.queue:
                self.drain(element)

    def configure_template(self, template_id: int, given: dict[str, Any]) -> None:
        template = self.templates.get(template_id)
        if template is None:
            template = TemplateModel(template_id, given["document_type"], 0, given["auto_execute"])
            self.templates[template_id] = template
        template.version += 1
        for key in ("auto_execute", "active", "parameters", "constants", "duration", "actions"):
            if key in given:
                setattr(template, key, given[key])

    # Documents

    def create(
        self, name: str, channel: str, line: int, parameters: dict[str, Any] | None = None
    ) -> None:
        document_type, number = name.split(":")
        element = ElementModel(
            name, document_type, written=not self.refuses(document_type, channel)
        )
        self.elements[name] = element
        self.last_ids[document_type] = max(self.last_ids.get(document_type, 0), int(number))
        self.round(element, "add", channel, True, parameters or {}, Root(line), 0)

    def update(
        self,
        name: str,
        channel: str,
        changed: dict[str, Any],
        line: int,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        element = self.elements[name]
        self.round(element, "change", channel, bool(changed), parameters or {}, Root(line), 0)

    def delete(self, name: str) -> None:
        element = self.elements[name]
        element.queue.clear()
        element.running.clear()
        element.deleted = True
        self.touched.add(name)

    # Rounds and cascades

    def round(
        self,
        element: ElementModel,
        trigger: str,
        channel: str,
        changed: bool,
        parameters: dict[str, Any],
        root: Root,
        depth: int,
    ) -> None:
        """Every template of the type decides, in ascending id; then what started acts."""
        started: list[list[dict[str, Any]]] = []
        templates = sorted(
            (t for t in self.templates.values() if t.document_type == element.document_type),
            key=lambda t: t.id,
        )
        for template in templates:
            outcome, reason = self.decide(element, trigger, channel, changed, parameters, template)
            process = None
            if outcome in ("started", "queued"):
                element.processes += 1
                self.created += 1
                process = f"{element.name}#{element.processes}"
            self.rows.append(
                {
                    "line": root.line,
                    "depth": depth,
                    "at": self.now.isoformat(),
                    "element": element.name,
                    "trigger": trigger,
                    "channel": channel,
                    "template": template.id,
                    "template_version": template.version,
                    "outcome": outcome,
                    "reason": reason,
                    "process": process,
                }
            )
            if process is None:
                continue
            if outcome == "started":
                bypassed = self.bypasses_limit(channel, trigger)
                limit = UNLIMITED if bypassed or not self.portal.limit else self.portal.limit
                self.launch(element, process, template.duration, limit, self.created)
                started.append(list(template.actions))
            else:
                element.queue.append(
                    Waiting(
                        process,
                        template.id,
                        template.duration,
                        tuple(template.actions),
                        root.line,
                        depth,
                        self.created,
                    )
                )
                self.touched.add(element.name)
        for actions in started:
            if root.halted:
                return
            self.act(element, actions, root, depth)

    def act(
        self, element: ElementModel, actions: list[dict[str, Any]], root: Root, depth: int
    ) -> None:
        """An instance's actions, each a change through `bizproc`, depth first."""
        for action in actions:
            if root.halted:
                return
            if depth + 1 > MAX_DEPTH:
                root.halted = True
                self.warnings += 1
                return
            changed = bool(action["update"])
            self.round(element, "change", "bizproc", changed, {}, root, depth + 1)

    def bypasses_limit(self, channel: str, trigger: str) -> bool:
        return self.portal.edition == "on_premise" and channel in BACKGROUND_CHANNELS[trigger]

    def list_untuned(self, document_type: str) -> bool:
        """A Feed list with an auto-start template, active or not, whose constant is untuned."""
        return module_of(document_type) == "feed" and any(
            t.document_type == document_type and t.auto_execute & 3 and untuned(t)
            for t in self.templates.values()
        )

    def refuses(self, document_type: str, channel: str) -> bool:
        """Lists REST refuses a write to an untuned list (where business processes are on)."""
        portal = self.portal
        return (
            channel == "rest"
            and self.list_untuned(document_type)
            and portal.bizproc
            and portal.lists_processes
        )

    def decide(
        self,
        element: ElementModel,
        trigger: str,
        channel: str,
        changed: bool,
        parameters: dict[str, Any],
        template: TemplateModel,
    ) -> tuple[str, str]:
        """The SPEC's decision order: the first failing check gives the reason."""
        portal = self.portal
        module, entity = element.document_type.split(".", 1)
        adding = trigger == "add"
        legacy_rest = module == "crm" and channel == "rest"  # deals and leads: the older starter
        lists_rest = module == "feed" and channel == "rest"
        if lists_rest and self.refuses(element.document_type, channel):
            return "skipped", "CONSTANTS_NOT_TUNED"  # the write itself was refused
        # 1. channel exclusions
        if channel == "import":
            return "skipped", "CHANNEL_IMPORT"
        process_file = module == "disk" and channel == "bizproc" and adding
        if (
            channel in ("bizproc", "robot")
            and not process_file
            and not (module == "crm" and portal.start_bp_within_bp)
        ):
            return "skipped", "CHANNEL_INNER"
        if channel == "robot_conversion":
            return "skipped", "CHANNEL_ROBOT_CONVERSION"
        if channel == "system":
            return "skipped", "CHANNEL_SYSTEM"
        if channel == "iblock_api":
            return "skipped", "CHANNEL_DIRECT_API"
        if channel == "trigger_stage_change" and entity in ("deal", "lead"):
            return "skipped", "TRIGGER_STAGE_CHANGE"
        if not adding and not changed and not legacy_rest:
            return "skipped", "NO_CHANGES"
        if legacy_rest and portal.edition == "cloud" and portal.licence not in REST_LICENCES:
            return "skipped", "REST_LICENCE"
        # 2. features
        if not portal.bizproc or (module == "feed" and not portal.lists_processes):
            return "skipped", "FEATURE_DISABLED"
        # 3. the list or storage (lists REST does not look)
        if (
            module != "crm"
            and not lists_rest
            and not portal.containers.get(element.document_type, True)
        ):
            return "skipped", "CONTAINER_DISABLED"
        # 4., 5. the template (legacy REST does not look at active)
        if not template.active and not legacy_rest:
            return "skipped", "TEMPLATE_INACTIVE"
        if not template.auto_execute & (1 if adding else 2):
            return "skipped", "NOT_ON_ADD" if adding else "NOT_ON_CHANGE"
        # 6. constants: the template's own, the whole list's in Feed, none for legacy REST
        if module == "feed" and self.list_untuned(element.document_type):
            return "skipped", "CONSTANTS_NOT_TUNED"
        if module != "feed" and not legacy_rest and untuned(template):
            return "skipped", "CONSTANTS_NOT_TUNED"
        # 7. parameters
        if module == "disk" and bool(parameters) != bool(template.parameters):
            return "skipped", "PARAMETERS_MISMATCH"
        required_missing = any(
            p.get("required", False)
            and is_missing(parameters.get(p["name"]))
            and is_missing(p.get("default"))
            for p in template.parameters
        )
        checked = (module == "feed" and not lists_rest) or (module == "disk" and parameters)
        if checked and required_missing:
            return "skipped", "PARAMETER_REQUIRED"
        # 8. the simultaneous limit
        full = 0 < portal.limit <= len(element.running)
        if full and not self.bypasses_limit(channel, trigger):
            if portal.policy == "reject":
                return "rejected", "LIMIT_REJECTED"
            return "queued", "LIMIT_QUEUED"
        return "started", "AUTO_ON_ADD" if adding else "AUTO_ON_CHANGE"


def untuned(template: TemplateModel) -> bool:
    return any(c.get("required", False) and is_missing(c.get("value")) for c in template.constants)


# Strategies for traffic lines


def named_items(
    name: str, value_key: str, values: list[str | None]
) -> st.SearchStrategy[list[Any]]:
    """No item, one with `required` left to its default (false), or one that says it."""
    return st.one_of(
        st.just([]),
        st.fixed_dictionaries(
            {"name": st.just(name)}, optional={value_key: st.sampled_from(values)}
        ).map(lambda item: [item]),
        st.fixed_dictionaries(
            {"name": st.just(name), "required": st.booleans()},
            optional={value_key: st.sampled_from(values)},
        ).map(lambda item: [item]),
    )


PARAMETER_LISTS = named_items("Amount", "default", [None, "", "100"])
CONSTANT_LISTS = named_items("Approver", "value", [None, "", "user_1"])
ACTION_LISTS = st.lists(st.just({"update": {"STAGE_ID": "WON"}}), max_size=2)
# Mostly deals, so that several templates meet on one document and the limit bites.
DOCUMENT_TYPE_CHOICES = st.sampled_from(DOCUMENT_TYPES)
AUTO_EXECUTE = st.one_of(st.just(3), st.integers(0, 3))  # mostly on add and on change
TEMPLATE_FIELDS = {
    "active": st.booleans(),
    "parameters": PARAMETER_LISTS,
    "constants": CONSTANT_LISTS,
    "duration": st.sampled_from([600, 60, 0]),
    "actions": ACTION_LISTS,
}
PARAMETER_VALUES = st.sampled_from([None, {}, {"Amount": None}, {"Amount": ""}, {"Amount": "7"}])
CHANGED_FIELDS = st.sampled_from([{}, {"STAGE_ID": "WON"}, {"TITLE": "Renamed", "OPPORTUNITY": 5}])
PORTAL_SETTINGS: dict[str, st.SearchStrategy[Any]] = {
    "edition": st.sampled_from(["cloud", "on_premise"]),
    "plan": st.sampled_from(["free", "basic", "professional", "enterprise"]),
    "licence": st.sampled_from(["paid", "nfr", "demo", "free"]),
    "features": st.one_of(
        st.fixed_dictionaries({"bizproc": st.booleans()}),
        st.fixed_dictionaries({"lists_processes": st.booleans()}),
        st.fixed_dictionaries({"bizproc": st.booleans(), "lists_processes": st.booleans()}),
    ),
    "start_bp_within_bp": st.booleans(),
    "limit_simultaneous_processes": st.integers(0, 3),
    "limit_policy": st.sampled_from(["queue", "reject"]),
}
# Mostly one setting a line, as an administrator changes them; sometimes several at once.
PORTAL_CHANGES = st.one_of(
    *(st.fixed_dictionaries({key: value}) for key, value in PORTAL_SETTINGS.items()),
    st.fixed_dictionaries(
        {"edition": PORTAL_SETTINGS["edition"]},
        optional={
            "limit_simultaneous_processes": PORTAL_SETTINGS["limit_simultaneous_processes"],
            "limit_policy": PORTAL_SETTINGS["limit_policy"],
        },
    ),
    st.fixed_dictionaries({}, optional=PORTAL_SETTINGS),
)
TEMPLATE_IDS = range(1, 41)
NEW_TEMPLATES = st.tuples(
    DOCUMENT_TYPE_CHOICES,
    st.integers(0, len(TEMPLATE_IDS) - 1),  # which unused id it takes
    AUTO_EXECUTE,
    # An instance that runs for a while is what fills the limit, so a duration is always given.
    st.fixed_dictionaries(
        {"duration": TEMPLATE_FIELDS["duration"]},
        optional={k: v for k, v in TEMPLATE_FIELDS.items() if k != "duration"},
    ),
)


class AutostartMachine(RuleBasedStateMachine):
    """Traffic, one line at a time, into one open store; every decision as the model says."""

    elements: Bundle[str] = Bundle("elements")
    templates: Bundle[int] = Bundle("templates")

    def __init__(self) -> None:
        super().__init__()
        self.app: AutostartApplication = open_store(parse_store("memory:"))
        self.model = Model()
        self.traffic: list[Line] = []
        self.expected: list[Row] = []  # every decision so far, `line` as in one file
        self.warnings = 0
        self.last: list[Row] = []
        self.touched: set[str] = set()
        self.processes: set[str] = set()

    def send(self, line: Line) -> None:
        """Replays one line into the store and checks its decisions against the model's."""
        note(json.dumps(line))
        self.traffic.append(line)
        warnings: list[str] = []

        observed = replay_into(self.app, [line], warnings=warnings)

        expected, halts, self.touched = self.model.take()
        self.expected += expected
        self.warnings += halts
        self.last = observed
        # Each step is a one-line replay, so every decision carries line 1.
        assert observed == [{**row, "line": 1} for row in expected]
        assert len(warnings) == halts, warnings

    @property
    def line(self) -> int:
        """The number the line about to be sent has in the whole traffic."""
        return len(self.traffic) + 1

    def stamp(self) -> str:
        return self.model.now.isoformat()

    def new_element(self, document_type: str, gap: int) -> str:
        number = self.model.last_ids.get(document_type, 0) + gap
        self.model.last_ids[document_type] = number
        return f"{document_type}:{number}"

    # Settings

    def add_template(
        self, document_type: str, slot: int, auto_execute: int, fields: dict[str, Any]
    ) -> int:
        unused = [i for i in TEMPLATE_IDS if i not in self.model.templates]
        template_id = unused[slot % len(unused)]
        given = {"document_type": document_type, "auto_execute": auto_execute, **fields}
        self.model.configure_template(template_id, given)
        self.send({"op": "template", "template": template_id, **given})
        return template_id

    # A portal rarely starts empty: two templates first.

    @initialize(target=templates, config=NEW_TEMPLATES)
    def install_a_template(self, config: tuple[str, int, int, dict[str, Any]]) -> int:
        return self.add_template(*config)

    @initialize(target=templates, config=NEW_TEMPLATES)
    def install_another_template(self, config: tuple[str, int, int, dict[str, Any]]) -> int:
        return self.add_template(*config)

    @precondition(lambda self: len(self.model.templates) < 8)
    @rule(target=templates, config=NEW_TEMPLATES)
    def create_template(self, config: tuple[str, int, int, dict[str, Any]]) -> int:
        return self.add_template(*config)

    @rule(
        template=templates,
        fields=st.fixed_dictionaries(
            {}, optional={"auto_execute": AUTO_EXECUTE, **TEMPLATE_FIELDS}
        ),
        restate_type=st.booleans(),
    )
    def reconfigure_template(
        self, template: int, fields: dict[str, Any], restate_type: bool
    ) -> None:
        given = dict(fields)
        if restate_type:
            given["document_type"] = self.model.templates[template].document_type
        self.model.configure_template(template, given)
        self.send({"op": "template", "template": template, **given})

    @rule(changes=PORTAL_CHANGES, timed=st.booleans())
    def change_portal(self, changes: dict[str, Any], timed: bool) -> None:
        line: Line = {"op": "portal", **changes}
        if timed:
            line["at"] = self.stamp()
        self.model.change_portal(changes)
        self.send(line)

    @precondition(lambda self: self.waiting_elements())
    @rule(change=st.sampled_from(["raise", "lift", "on_premise"]), by=st.integers(1, 2))
    def free_slots_for_waiting_instances(self, change: str, by: int) -> None:
        """A portal line that raises or lifts the limit lets the queues move."""
        changes: dict[str, Any]
        if change == "raise":
            changes = {"limit_simultaneous_processes": self.model.portal.limit + by}
        elif change == "lift" or self.model.portal.edition == "on_premise":
            changes = {"limit_simultaneous_processes": 0}
        else:  # the on-premise edition's default limit is 0, unlimited
            changes = {"edition": "on_premise"}
        self.model.change_portal(changes)
        self.send({"op": "portal", **changes})

    @rule(document_type=st.sampled_from([FEED, DRIVE]), enabled=st.booleans(), timed=st.booleans())
    def configure_container(self, document_type: str, enabled: bool, timed: bool) -> None:
        line: Line = {"op": "container", "document_type": document_type, "bizproc_enabled": enabled}
        if timed:
            line["at"] = self.stamp()
        self.model.portal.containers[document_type] = enabled
        self.send(line)

    @rule(seconds=st.one_of(st.sampled_from([60, 600]), st.integers(1, 900)))
    def let_time_pass(self, seconds: int) -> None:
        """An empty portal line moves the clock: what is due by then completes or starts."""
        self.model.tick(self.model.now + timedelta(seconds=seconds))
        self.send({"op": "portal", "at": self.stamp()})

    @precondition(lambda self: self.waiting_elements())
    @rule()
    def let_a_waiting_instance_start(self) -> None:
        """The clock lands exactly on a completion that a queued instance waits for."""
        ends = min(
            run.ends
            for name in self.waiting_elements()
            for run in self.model.elements[name].running.values()
        )
        self.model.tick(ends)
        self.send({"op": "portal", "at": self.stamp()})

    # Documents

    @rule(
        target=elements,
        watched_by=templates,
        data=st.data(),
        gap=st.integers(1, 3),
        fields=st.sampled_from([None, {"TITLE": "Order"}]),
        parameters=PARAMETER_VALUES,
    )
    def create_element(
        self,
        watched_by: int,
        data: st.DataObject,
        gap: int,
        fields: dict[str, Any] | None,
        parameters: dict[str, Any] | None,
    ) -> MultipleResults[str]:
        """Creates an element of a type that a template watches (others decide nothing)."""
        document_type = self.model.templates[watched_by].document_type
        channels = ADD_CHANNELS[module_of(document_type)]
        channel = data.draw(st.sampled_from(channels), label="channel")
        name = self.new_element(document_type, gap)
        line: Line = {"op": "create", "at": self.stamp(), "element": name, "channel": channel}
        if fields is not None:
            line["fields"] = fields
        if parameters is not None:
            line["parameters"] = parameters
        self.model.create(name, channel, self.line, parameters)
        self.send(line)
        # A write the portal refused made no element: no later line may name it.
        return multiple(name) if self.model.elements[name].written else multiple()

    @rule(
        target=elements,
        document_type=st.sampled_from((*CRM_TYPES, FEED)),
        count=st.integers(1, 2),
    )
    def import_elements(self, document_type: str, count: int) -> MultipleResults[str]:
        names = [self.new_element(document_type, 1) for _ in range(count)]
        line = self.line
        for name in names:
            self.model.create(name, "import", line)
        self.send(
            {
                "op": "import",
                "at": self.stamp(),
                "document_type": document_type,
                "file": "batch.csv",
                "elements": names,
            }
        )
        return multiple(*names)

    @rule(
        element=elements,
        data=st.data(),
        changed=CHANGED_FIELDS,
        parameters=PARAMETER_VALUES,
    )
    def update_element(
        self,
        element: str,
        data: st.DataObject,
        changed: dict[str, Any],
        parameters: dict[str, Any] | None,
    ) -> None:
        module = module_of(self.model.elements[element].document_type)
        channel = data.draw(st.sampled_from(CHANGE_CHANNELS[module]), label="channel")
        line: Line = {
            "op": "update",
            "at": self.stamp(),
            "element": element,
            "channel": channel,
            "changed": changed,
        }
        if parameters is not None:
            line["parameters"] = parameters
        self.model.update(element, channel, changed, self.line, parameters)
        self.send(line)

    @precondition(lambda self: self.busy_elements())
    @rule(data=st.data(), changed=CHANGED_FIELDS, parameters=PARAMETER_VALUES)
    def update_a_busy_element(
        self, data: st.DataObject, changed: dict[str, Any], parameters: dict[str, Any] | None
    ) -> None:
        """Changes an element that has instances running: where the limit bites."""
        element = data.draw(st.sampled_from(self.busy_elements()), label="element")
        self.update_element(element, data, changed, parameters)

    def busy_elements(self) -> list[str]:
        return sorted(name for name, e in self.model.elements.items() if e.running)

    def waiting_elements(self) -> list[str]:
        return sorted(name for name, e in self.model.elements.items() if e.queue)

    @rule(element=consumes(elements))
    def delete_element(self, element: str) -> None:
        self.model.delete(element)
        self.send({"op": "delete", "at": self.stamp(), "element": element})

    # Laws

    @invariant()
    def no_process_starts_from_an_import(self) -> None:
        for row in self.last:
            if row["channel"] == "import":
                assert (row["outcome"], row["reason"]) == ("skipped", "CHANNEL_IMPORT"), row

    @invariant()
    def no_process_id_is_given_twice(self) -> None:
        given = [row["process"] for row in self.last if row["process"] is not None]
        assert len(given) == len(set(given)), given
        assert not self.processes & set(given), self.processes & set(given)
        self.processes |= set(given)

    @invariant()
    def the_store_runs_and_queues_what_the_model_does(self) -> None:
        for name in sorted(self.touched):
            self.check_element(name)

    @invariant()
    def never_more_running_than_the_limit(self) -> None:
        """At most as many run as the limit the newest of them had to fit under."""
        for name in sorted(self.touched):
            stored = self.app.element(name)
            running = self.model.elements[name].running
            if stored is None or not running:
                continue
            newest = max(running.values(), key=lambda run: run.started)
            assert len(stored.running) <= newest.limit_seen, (name, stored.running)

    @invariant()
    def no_queued_process_waits_for_a_free_slot(self) -> None:
        limit = self.model.portal.limit
        for name in sorted(self.touched):
            stored = self.app.element(name)
            if stored is not None and stored.queue:
                assert 0 < limit <= len(stored.running), (name, stored.running, stored.queue)

    def check_element(self, name: str) -> None:
        stored = self.app.element(name)
        model = self.model.elements[name]
        assert stored is not None, name
        assert stored.deleted == model.deleted, name
        assert stored.running == {p: run.ends for p, run in model.running.items()}, name
        assert [q["process"] for q in stored.queue] == [w.process for w in model.queue], name

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:  # a failed step already tells its own story
                for name in sorted(self.model.elements):
                    self.check_element(name)
                self.replaying_the_whole_traffic_at_once_gives_the_same_decisions()
        finally:
            self.app.close()

    def replaying_the_whole_traffic_at_once_gives_the_same_decisions(self) -> None:
        fresh = open_store(parse_store("memory:"))
        try:
            warnings: list[str] = []

            at_once = replay_into(fresh, self.traffic, warnings=warnings)

            # `line` counts lines of the whole file there: the model says which line each is.
            assert at_once == self.expected
            assert len(warnings) == self.warnings, warnings
        finally:
            fresh.close()


TestCase = AutostartMachine.TestCase
TestCase.settings = settings(TestCase.settings, stateful_step_count=50)
