"""Traffic generation: a scenario and a seed streamed out as SPEC traffic lines, reproducibly."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.settings import PLANS_WITHOUT_FEATURES
from domain.vocabulary import Module, Trigger, document_type
from simulations.scenario import Scenario, TrafficModel

CHANGED_FIELDS = {
    Module.CRM: ("STAGE_ID", "OPPORTUNITY", "ASSIGNED_BY_ID", "COMMENTS"),
    Module.FEED: ("NAME", "PROPERTY_STATUS"),
    Module.LISTS: ("NAME", "PROPERTY_STATUS"),
    Module.DISK: ("VERSION",),
}
DEFAULT_CHANNELS = {
    Module.CRM: {"ui": 1.0},
    Module.FEED: {"feed": 1.0},
    Module.LISTS: {"ui": 1.0},
    Module.DISK: {"ui": 1.0},
}
# Ids of types that processes create are spaced so a cascade's max+1 never meets the traffic's.
ACTION_ID_STRIDE = 1000
# The field an automation trigger's stage move changes.
STAGE_FIELD = {"lead": "STATUS_ID"}
LEGACY_REST_ENTITIES = ("lead", "deal", "contact", "company")


@dataclass
class _State:
    """What the generator remembers: bounded, so memory stays flat however long the run."""

    at: datetime
    next_id: dict[str, int] = field(default_factory=dict)
    live: dict[str, list[int]] = field(default_factory=dict)
    parameters: dict[str, list[str]] = field(default_factory=dict)
    off: set[str] = field(default_factory=set)
    # Lists REST refuses writes to a list with an untuned template: the generator never
    # changes an element whose add was refused (it does not exist).
    untuned: dict[str, dict[int, bool]] = field(default_factory=dict)
    template_types: dict[int, str] = field(default_factory=dict)
    configs: dict[int, dict[str, Any]] = field(default_factory=dict)
    features: dict[str, bool] = field(
        default_factory=lambda: {"bizproc": True, "lists_processes": True}
    )

    def refuses(self, name: str, channel: str) -> bool:
        module = document_type(name).module
        if channel != "rest" or module not in (Module.FEED, Module.LISTS):
            return False
        enabled = self.features["bizproc"] and (
            module is not Module.FEED or self.features["lists_processes"]
        )
        return enabled and any(self.untuned.get(name, {}).values())


def _dump(line: dict[str, Any]) -> str:
    return json.dumps(line, separators=(",", ":"))


def generate(
    scenario: Scenario,
    *,
    events: int | None = None,
    seed: int | None = None,
    start: datetime | None = None,
    last_ids: dict[str, int] | None = None,
) -> Iterator[str]:
    """Streams the scenario's traffic: set-up lines first, then `events` timed lines.

    `events` counts traffic lines (the scenario's `lines` by default); they fill the scenario's
    stated span. To continue a store, `start` after its clock and `last_ids` (the largest id
    of each document type it used) make the new lines follow the old ones.
    """
    model = scenario.traffic
    rng = random.Random(scenario.seed if seed is None else seed)
    total = model.lines if events is None else events
    mean_gap_s = model.mean_gap_for(total)
    state = _State(at=model.start if start is None else start)
    stride = dict.fromkeys(scenario.created_by_actions(), ACTION_ID_STRIDE)
    for name, last in (last_ids or {}).items():
        state.next_id[name] = last // stride.get(name, 1)
    for line in scenario.setup:
        _remember_settings(state, line)
        yield _dump(line)
    timeline = list(scenario.timeline)
    emitted = 0
    while emitted < total:
        while timeline and timeline[0].after_share * total <= emitted:
            line = {**timeline.pop(0).line, "at": state.at.isoformat()}
            _remember_settings(state, line)
            yield _dump(line)
        state.at += timedelta(seconds=rng.expovariate(1 / mean_gap_s))
        for line in _next_lines(model, state, rng, stride, emitted):
            yield _dump(line)
            emitted += 1


def _remember_settings(state: _State, line: dict[str, Any]) -> None:
    if line["op"] == "portal":
        for key, channel in (("email_integration", "email"), ("telephony", "call")):
            if key in line:
                (state.off.discard if line[key] else state.off.add)(channel)
        if "plan" in line:
            enabled = line["plan"] not in PLANS_WITHOUT_FEATURES
            state.features = dict.fromkeys(state.features, enabled)
        state.features.update(line.get("features", {}))
    if line["op"] == "template":
        _remember_template(state, line)
    if line["op"] == "template" and "parameters" in line and "document_type" in line:
        names = [p["name"] for p in line["parameters"]]
        known = state.parameters.setdefault(line["document_type"], [])
        known.extend(n for n in names if n not in known)


def _remember_template(state: _State, line: dict[str, Any]) -> None:
    """Which templates of a list would make lists REST refuse a write (untuned constants)."""
    template = line["template"]
    name = state.template_types.setdefault(template, line.get("document_type", ""))
    known = state.untuned.setdefault(name, {})
    config = state.configs.setdefault(template, {"auto_execute": 0, "constants": []})
    config.update({k: line[k] for k in ("auto_execute", "constants") if k in line})
    known[template] = bool(config["auto_execute"] & 3) and any(
        c.get("required") and c.get("value") in (None, "") for c in config["constants"]
    )


def _next_lines(
    model: TrafficModel,
    state: _State,
    rng: random.Random,
    stride: dict[str, int],
    emitted: int,
) -> list[dict[str, Any]]:
    at = state.at.isoformat()
    if model.import_every_events and emitted and emitted % model.import_every_events == 0:
        types = model.import_document_types or ["crm.lead"]
        name = rng.choice(types)
        ids = [
            _new_id(state, name, stride, model.recent_elements)
            for _ in range(model.import_batch_size)
        ]
        return [
            {
                "op": "import",
                "at": at,
                "document_type": name,
                "file": f"{name}.csv",
                "elements": [f"{name}:{i}" for i in ids],
            }
        ]
    roll = rng.random()
    existing = [name for name, ids in state.live.items() if ids]
    if existing and roll < model.delete_share:
        name = rng.choice(sorted(existing))
        ids = state.live[name]
        chosen = ids.pop(rng.randrange(len(ids)))
        return [{"op": "delete", "at": at, "element": f"{name}:{chosen}"}]
    if existing and roll < model.delete_share + model.change_share:
        name = rng.choice(sorted(existing))
        element = f"{name}:{rng.choice(state.live[name])}"
        count = model.burst_size if rng.random() < model.burst_share else 1
        lines = []
        for index in range(count):
            when = state.at + timedelta(seconds=index * model.burst_gap_s)
            lines.append(_update(model, state, rng, name, element, when))
        state.at += timedelta(seconds=(count - 1) * model.burst_gap_s)
        return lines
    names = sorted(model.document_types)
    name = rng.choices(names, weights=[model.document_types[n] for n in names])[0]
    doc_type = document_type(name)
    channel = _channel(model.create_channels, state, rng, name, Trigger.ADD)
    window = 0 if state.refuses(name, channel) else model.recent_elements
    line: dict[str, Any] = {
        "op": "create",
        "at": at,
        "element": f"{name}:{_new_id(state, name, stride, window)}",
        "channel": channel,
    }
    parameters = _parameters(model, state, rng, name)
    if parameters:
        line["parameters"] = parameters
    if doc_type.module is Module.CRM:
        line["fields"] = {"TITLE": f"{doc_type.entity} {line['element'].split(':')[1]}"}
    return [line]


def _update(
    model: TrafficModel,
    state: _State,
    rng: random.Random,
    name: str,
    element: str,
    when: datetime,
) -> dict[str, Any]:
    doc_type = document_type(name)
    duplicate = doc_type.module is Module.CRM and rng.random() < model.web_form_duplicate_share
    channel = (
        "web_form"
        if duplicate
        else _channel(model.change_channels, state, rng, name, Trigger.CHANGE)
    )
    changed: dict[str, Any] = {}
    empty = model.empty_change_share
    if channel == "rest" and doc_type.entity in LEGACY_REST_ENTITIES:
        empty = model.rest_empty_change_share
    if channel == "trigger_stage_change":
        changed = {STAGE_FIELD.get(doc_type.entity, "STAGE_ID"): f"S{rng.randint(1, 9)}"}
    elif rng.random() >= empty:
        fields = CHANGED_FIELDS[doc_type.module]
        changed = {rng.choice(fields): rng.randint(1, 99)}
    line: dict[str, Any] = {
        "op": "update",
        "at": when.isoformat(),
        "element": element,
        "channel": channel,
        "changed": changed,
    }
    parameters = _parameters(model, state, rng, name)
    if parameters:
        line["parameters"] = parameters
    return line


def _channel(
    table: dict[str, dict[str, float]],
    state: _State,
    rng: random.Random,
    name: str,
    trigger: Trigger,
) -> str:
    doc_type = document_type(name)
    weights = table.get(doc_type.module.value) or DEFAULT_CHANNELS[doc_type.module]
    usable = sorted(
        c
        for c, w in weights.items()
        if w > 0 and c not in state.off and doc_type.allows(c, trigger)
    )
    if not usable:
        return "ui"
    return rng.choices(usable, weights=[weights[c] for c in usable])[0]


def _parameters(
    model: TrafficModel, state: _State, rng: random.Random, name: str
) -> dict[str, Any]:
    module = document_type(name).module
    if module is Module.CRM or rng.random() >= model.parameters_share:
        return {}
    names = state.parameters.get(name) or ["Comment"]
    return {parameter: f"value {rng.randint(1, 9)}" for parameter in names}


def _new_id(state: _State, name: str, stride: dict[str, int], window: int) -> int:
    """A fresh id; only the `window` most recent live elements of a type are changed later."""
    number = state.next_id.get(name, 0) + 1
    state.next_id[name] = number
    new = number * stride.get(name, 1)
    live = state.live.setdefault(name, [])
    if window:  # a window of 0: the element will not exist, nothing changes it later
        live.append(new)
        if len(live) > window:
            del live[0]
    return new
