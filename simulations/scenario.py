"""Scenario files (TOML): a portal's set-up and a model of its traffic, checked key by key."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from domain.vocabulary import CHANNELS, Module, Trigger, document_type, is_document_type
from simulations.traffic import BadLineError, parse_line

DEFAULT_START = datetime.fromisoformat("2026-03-02T09:00:00+03:00")


class ScenarioError(ValueError):
    """A scenario file the generator cannot use: names the file, the key, what was expected."""


@dataclass(frozen=True, slots=True)
class TrafficModel:
    """How the portal's documents are added and changed over time. Shares are 0..1."""

    lines: int = 10_000
    # A stated span: however many lines are asked for, they fill it (the mean gap follows).
    span_days: float | None = None
    start: datetime = DEFAULT_START
    mean_gap_s: float = 30.0
    document_types: dict[str, float] = field(default_factory=dict)
    create_channels: dict[str, dict[str, float]] = field(default_factory=dict)
    change_channels: dict[str, dict[str, float]] = field(default_factory=dict)
    change_share: float = 0.5
    empty_change_share: float = 0.02
    # Legacy CRM REST updates that change nothing (sync apps sending the same values again).
    rest_empty_change_share: float = 0.02
    delete_share: float = 0.01
    web_form_duplicate_share: float = 0.0
    parameters_share: float = 0.5
    burst_share: float = 0.0
    burst_size: int = 3
    burst_gap_s: float = 5.0
    import_every_events: int = 0
    import_batch_size: int = 10
    import_document_types: list[str] = field(default_factory=list)
    recent_elements: int = 1000

    def mean_gap_for(self, lines: int) -> float:
        """Seconds between steps, so that `lines` fill the stated span (or `mean_gap_s`)."""
        if self.span_days is None:
            return self.mean_gap_s
        bursts = self.change_share * self.burst_share * (self.burst_size - 1)
        steps = lines / (1 + bursts)
        gap = self.span_days * 86_400 / steps - bursts * self.burst_gap_s
        return max(gap, 0.001)

    def span_for(self, lines: int) -> timedelta:
        """About how long `lines` of this traffic last."""
        bursts = self.change_share * self.burst_share * (self.burst_size - 1)
        steps = lines / (1 + bursts)
        return timedelta(seconds=steps * (self.mean_gap_for(lines) + bursts * self.burst_gap_s))


@dataclass(frozen=True, slots=True)
class TimedLine:
    """A settings or template line that happens once a share of the events has passed."""

    after_share: float
    line: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    seed: int
    setup: list[dict[str, Any]]
    traffic: TrafficModel
    timeline: list[TimedLine]

    def created_by_actions(self) -> set[str]:
        """Document types some template's actions create (their ids are spaced apart)."""
        made = set()
        for line in (*self.setup, *(t.line for t in self.timeline)):
            for action in line.get("actions", []) if line.get("op") == "template" else []:
                if "create" in action:
                    made.add(action["create"])
        return made


def shipped() -> dict[str, Path]:
    """Shipped scenario names and where they are."""
    folder = resources.files("simulations") / "scenarios"
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def locate(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ScenarioError(f"{name_or_path}: no such scenario file")
        return path
    known = shipped()
    if name_or_path not in known:
        raise ScenarioError(
            f"no shipped scenario named {name_or_path!r} (known: {', '.join(sorted(known))})"
        )
    return known[name_or_path]


def load(name_or_path: str) -> Scenario:
    """The scenario named (shipped) or at a path; raises ScenarioError on any bad key."""
    path = locate(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: not valid TOML ({error})") from None
    return _scenario(data, str(path))


def _fail(where: str, key: str, expected: str, got: object = None) -> ScenarioError:
    shown = "" if got is None else f", got {json.dumps(got, default=str)}"
    return ScenarioError(f"{where}: key '{key}': expected {expected}{shown}")


def _known_keys(data: dict[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise _fail(where, prefix + key, f"one of {', '.join(sorted(allowed))}", key)


def _setup_line(line: dict[str, Any], where: str, key: str) -> dict[str, Any]:
    try:
        parse_line(json.dumps(line), 1)
    except BadLineError as error:
        field_name = f"{key}.{error.field}" if error.field else key
        raise _fail(where, field_name, error.expected + error.got) from None
    return line


def _scenario(data: dict[str, Any], where: str) -> Scenario:
    _known_keys(
        data,
        {"name", "description", "seed", "portal", "containers", "templates", "traffic",
         "timeline"},
        where,
        "",
    )  # fmt: skip
    if not isinstance(data.get("name"), str):
        raise _fail(where, "name", "a string")
    seed = data.get("seed", 1)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _fail(where, "seed", "an integer", seed)
    setup: list[dict[str, Any]] = []
    if "portal" in data:
        setup.append(_setup_line({"op": "portal", **data["portal"]}, where, "portal"))
    for index, container in enumerate(data.get("containers", [])):
        setup.append(_setup_line({"op": "container", **container}, where, f"containers[{index}]"))
    for index, template in enumerate(data.get("templates", [])):
        line = {"op": "template", **_durations(template)}
        setup.append(_setup_line(line, where, f"templates[{index}]"))
    timeline = []
    for index, entry in enumerate(data.get("timeline", [])):
        key = f"timeline[{index}]"
        share = entry.get("after_share")
        if not isinstance(share, int | float) or not 0 <= share <= 1:
            raise _fail(where, f"{key}.after_share", "a number from 0 to 1", share)
        line = {k: v for k, v in entry.items() if k != "after_share"}
        if line.get("op") not in ("portal", "container", "template"):
            raise _fail(where, f"{key}.op", "portal, container or template", line.get("op"))
        timeline.append(TimedLine(float(share), _setup_line(_durations(line), where, key)))
    timeline.sort(key=lambda t: t.after_share)
    traffic = _traffic(data.get("traffic", {}), where)
    return Scenario(data["name"], str(data.get("description", "")), seed, setup, traffic, timeline)


def _durations(line: dict[str, Any]) -> dict[str, Any]:
    """Scenario files say `duration_s`; traffic lines say `duration`."""
    out = dict(line)
    if "duration_s" in out:
        out["duration"] = out.pop("duration_s")
    return out


_NUMBERS = {
    "mean_gap_s": (float, 0.001, None),
    "change_share": (float, 0.0, 1.0),
    "empty_change_share": (float, 0.0, 1.0),
    "rest_empty_change_share": (float, 0.0, 1.0),
    "delete_share": (float, 0.0, 1.0),
    "web_form_duplicate_share": (float, 0.0, 1.0),
    "parameters_share": (float, 0.0, 1.0),
    "burst_share": (float, 0.0, 1.0),
    "burst_size": (int, 1, None),
    "burst_gap_s": (float, 0.0, None),
    "import_every_events": (int, 0, None),
    "import_batch_size": (int, 1, None),
    "recent_elements": (int, 1, None),
    "lines": (int, 1, None),
    "span_days": (float, 0.001, None),
}


def _traffic(data: dict[str, Any], where: str) -> TrafficModel:
    allowed = {*_NUMBERS, "start", "document_types", "create_channels", "change_channels",
               "import_document_types"}  # fmt: skip
    if "events" in data and "lines" not in data:
        # The key's old name: it always counted traffic lines.
        data = {("lines" if key == "events" else key): value for key, value in data.items()}
    _known_keys(data, allowed, where, "traffic.")
    if "span_days" in data and "mean_gap_s" in data:
        raise _fail(where, "traffic.mean_gap_s", "no mean gap where span_days is given "
                    "(the lines fill the span)")  # fmt: skip
    values: dict[str, Any] = {}
    for key, (kind, low, high) in _NUMBERS.items():
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(where, f"traffic.{key}", "a number", value)
        if kind is int and not isinstance(value, int):
            raise _fail(where, f"traffic.{key}", "an integer", value)
        if value < low or (high is not None and value > high):
            bound = f"from {low}" + (f" to {high}" if high is not None else " up")
            raise _fail(where, f"traffic.{key}", f"a number {bound}", value)
        values[key] = kind(value)
    if "start" in data:
        start = data["start"]
        text = start.isoformat() if isinstance(start, datetime) else str(start)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise _fail(where, "traffic.start", "an ISO-8601 time with an offset", text)
        values["start"] = parsed
    types = data.get("document_types", {"crm.deal": 1.0})
    values["document_types"] = _weights(types, where, "traffic.document_types")
    for key in ("create_channels", "change_channels"):
        given = data.get(key, {})
        if not isinstance(given, dict):
            raise _fail(where, f"traffic.{key}", "a table of modules")
        channels = {}
        for module, weights in given.items():
            if module not in {m.value for m in Module}:
                raise _fail(where, f"traffic.{key}.{module}", "crm, feed, lists or disk")
            channels[module] = _channel_weights(weights, where, f"traffic.{key}.{module}",
                                                Module(module))  # fmt: skip
        values[key] = channels
    imported = data.get("import_document_types", [])
    for index, name in enumerate(imported):
        if not is_document_type(name) or document_type(name).module is Module.DISK:
            raise _fail(where, f"traffic.import_document_types[{index}]",
                        "a crm, feed or lists document type", name)  # fmt: skip
    values["import_document_types"] = list(imported)
    return TrafficModel(**values)


def _weights(data: Any, where: str, key: str) -> dict[str, float]:
    if not isinstance(data, dict) or not data:
        raise _fail(where, key, "a table of document type = weight")
    for name, weight in data.items():
        if not is_document_type(name):
            raise _fail(where, f"{key}.{name}", "a document type such as crm.deal", name)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise _fail(where, f"{key}.{name}", "a weight of 0 or more", weight)
    return {name: float(weight) for name, weight in data.items()}


def _channel_weights(data: Any, where: str, key: str, module: Module) -> dict[str, float]:
    if not isinstance(data, dict) or not data:
        raise _fail(where, key, "a table of channel = weight")
    known = CHANNELS[module][Trigger.ADD] | CHANNELS[module][Trigger.CHANGE]
    for channel, weight in data.items():
        if channel not in known:
            raise _fail(where, f"{key}.{channel}", f"a {module.value} channel", channel)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise _fail(where, f"{key}.{channel}", "a weight of 0 or more", weight)
    return {channel: float(weight) for channel, weight in data.items()}
