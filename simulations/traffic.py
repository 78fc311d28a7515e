"""Traffic lines (JSON Lines): parsed and checked field by field into commands."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from domain.errors import (
    ChannelNotAllowed,
    ChannelOff,
    DocumentTypeFixed,
    ElementExists,
    ForeignElement,
    Refusal,
    RepeatedElement,
    TemplateIncomplete,
    TimeGoesBack,
    UnknownElement,
)
from domain.settings import EDITIONS, FEATURES, LICENCES, PLANS, POLICIES
from domain.vocabulary import (
    ALL_CHANNELS,
    MAX_ELEMENT_ID,
    MAX_TYPE_NUMBER,
    OLD_STAGE_CHANNEL,
    Module,
    Trigger,
    document_type,
    element_name,
    is_document_type,
)
from simulations.commands import Command, Line, make_command

# The SPEC's integer ranges (README, "Ranges"): every one fits a signed 64-bit SQLite integer,
# and those kept in PostgreSQL INTEGER columns (template ids, lines) fit 32 bits.
MAX_TEMPLATE_ID = 2**31 - 1
MAX_LINES = 2**31 - 1
MAX_LIMIT = 2**31 - 1
MAX_DURATION_S = 100 * 365 * 86_400
MIN_INT, MAX_INT = -(2**63), 2**63 - 1  # any other integer in a line, e.g. a field's value
# Times: from the simulated clock's epoch, and early enough that an instance's end still fits.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9800, 1, 1, tzinfo=UTC)

TIMED_OPS = ("create", "update", "import", "delete")
_COMMON = ("op", "at", "actor")
FIELDS: dict[str, tuple[str, ...]] = {
    "portal": (
        "edition",
        "plan",
        "licence",
        "features",
        "email_integration",
        "telephony",
        "start_bp_within_bp",
        "limit_simultaneous_processes",
        "limit_policy",
    ),
    "container": ("document_type", "bizproc_enabled"),
    "template": (
        "template",
        "document_type",
        "auto_execute",
        "active",
        "parameters",
        "constants",
        "duration",
        "actions",
    ),
    "create": ("element", "channel", "fields", "parameters"),
    "update": ("element", "channel", "changed", "parameters"),
    "import": ("document_type", "file", "elements"),
    "delete": ("element",),
}


class BadLineError(Exception):
    """A traffic line refused: which line, which field, what was expected."""

    def __init__(self, line: int, field: str | None, expected: str, got: str = "") -> None:
        self.line = line
        self.field = field
        self.expected = expected
        self.got = got
        where = f"line {line}" + (f", field '{_escaped(field)}'" if field is not None else "")
        super().__init__(f"{where}: expected {expected}{got}")

    @classmethod
    def wrap(cls, line: int, error: TrafficError) -> BadLineError:
        got = "" if error.got is None else f", got {_show(error.got)}"
        return cls(line, error.field, error.expected, got)

    @classmethod
    def refused(cls, line: int, refusal: Refusal) -> BadLineError:
        """A domain refusal said as the traffic file's line and field."""
        return cls.wrap(line, _in_fields(refusal))


class TrafficError(Exception):
    """A traffic line's field refused: names the field and what was expected."""

    def __init__(self, field: str, expected: str, got: object = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        super().__init__(f"field '{field}': expected {expected}")


def _in_fields(refusal: Refusal) -> TrafficError:
    """Names the traffic field a domain refusal is about and what the field should hold."""
    match refusal:
        case TimeGoesBack(clock=clock, at=at):
            expected = f"a time at or after {clock.isoformat()} (times never decrease)"
            return TrafficError("at", expected, at)
        case DocumentTypeFixed(document_type=doc_type, given=given):
            expected = f"'{doc_type}' (a template's document type never changes)"
            return TrafficError("document_type", expected, given)
        case TemplateIncomplete(missing=missing):
            return TrafficError(missing, "a value on the first line of a template")
        case ForeignElement(name=name, document_type=doc_type, position=position):
            expected = f"an element of the document type '{doc_type}'"
            return TrafficError(f"elements[{position}]", expected, name)
        case RepeatedElement(name=name, position=position):
            return TrafficError(
                f"elements[{position}]", "an element not already in this import", name
            )
        case ElementExists(name=name, position=position):
            where = "element" if position is None else f"elements[{position}]"
            return TrafficError(where, "an element that never existed (ids are never reused)", name)
        case UnknownElement(name=name, state=state):
            return TrafficError("element", f"an existing element ({name} {state})", name)
        case ChannelNotAllowed(channel=channel, document_type=doc_type, trigger=trigger):
            op = "create" if trigger is Trigger.ADD else "update"
            expected = (
                f"one of {', '.join(doc_type.channels(trigger))} "
                f"(for a {doc_type.module.value} {doc_type.entity} on {op})"
            )
            return TrafficError("channel", expected, channel)
        case ChannelOff(channel=channel, setting=setting):
            expected = f"a channel other than {channel} ({setting} is off)"
            return TrafficError("channel", expected)
    raise TypeError(refusal)  # pragma: no cover - every refusal is named above


def _show(value: object) -> str:
    text = value.isoformat() if isinstance(value, datetime) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(field: str, expected: str, value: object = None) -> TrafficError:
    return TrafficError(field, expected, value)


def _bool(data: dict[str, Any], key: str) -> None:
    if key in data and not isinstance(data[key], bool):
        raise _fail(key, "true or false", data[key])


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, f"an integer from {low} to {high}", value)
    return value


def _choice(data: dict[str, Any], key: str, choices: tuple[str, ...]) -> None:
    if key in data and data[key] not in choices:
        raise _fail(key, "one of " + ", ".join(choices), data[key])


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(field, "a JSON object", value)
    return value


def _string(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(field, "a non-empty string", value)
    return value


def _document_type(value: object, field: str = "document_type") -> str:
    if not isinstance(value, str) or not is_document_type(value):
        raise _fail(
            field,
            "a document type: crm.lead|deal|contact|company|quote|smart_invoice|dynamic_N, "
            f"feed.iblock_N, lists.iblock_N or disk.storage_N (N from 1 to {MAX_TYPE_NUMBER})",
            value,
        )
    return value


def _element(value: object, field: str = "element") -> str:
    try:
        parsed = element_name(value if isinstance(value, str) else "")
    except ValueError:
        parsed = None
    if parsed is None or parsed.id > MAX_ELEMENT_ID:
        raise _fail(
            field,
            f"an element '<document type>:<id from 1 to {MAX_ELEMENT_ID}>', e.g. crm.deal:101",
            value,
        )
    return str(value)


def _parse_at(value: object) -> datetime:
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            at = None
        if at is not None and at.tzinfo is not None:
            if EARLIEST <= at < LATEST:
                return at
            raise _fail("at", "a time from 1970-01-01T00:00:00Z to before 9800-01-01", value)
    raise _fail("at", "an ISO-8601 time with an offset, e.g. 2026-03-02T09:15:00+03:00", value)


def _portal(data: dict[str, Any]) -> None:
    _choice(data, "edition", EDITIONS)
    _choice(data, "plan", PLANS)
    _choice(data, "licence", LICENCES)
    _choice(data, "limit_policy", POLICIES)
    for key in ("email_integration", "telephony", "start_bp_within_bp"):
        _bool(data, key)
    if "limit_simultaneous_processes" in data:
        _int(data["limit_simultaneous_processes"], "limit_simultaneous_processes", 0, MAX_LIMIT)
    if "features" in data:
        features = _object(data["features"], "features")
        for key, value in features.items():
            if key not in FEATURES:
                raise _fail(f"features.{key}", "only the keys bizproc and lists_processes", key)
            if not isinstance(value, bool):
                raise _fail(f"features.{key}", "true or false", value)


def _container(data: dict[str, Any]) -> None:
    if "document_type" not in data:
        raise _fail("document_type", "a Feed list, workgroup list or Drive storage type")
    name = _document_type(data["document_type"])
    if document_type(name).module is Module.CRM:
        raise _fail("document_type", "a feed.iblock_N, lists.iblock_N or disk.storage_N type", name)
    if "bizproc_enabled" not in data:
        raise _fail("bizproc_enabled", "true or false (required)")
    _bool(data, "bizproc_enabled")


def _named_items(value: object, field: str, value_key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _fail(field, "a list of objects", value)
    items = []
    for index, given in enumerate(value):
        where = f"{field}[{index}]"
        item = _object(given, where)
        for key in item:
            if key not in ("name", "required", value_key):
                raise _fail(f"{where}.{key}", f"only the keys name, required, {value_key}", key)
        _string(item.get("name"), f"{where}.name")
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise _fail(f"{where}.required", "true or false", required)
        items.append({"name": item["name"], "required": required, value_key: item.get(value_key)})
    return items


def _actions(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _fail("actions", "a list of {'update': {...}} or {'create': TYPE} objects", value)
    for index, action in enumerate(value):
        where = f"actions[{index}]"
        if not isinstance(action, dict) or len(action) != 1:
            raise _fail(where, "an object with exactly one key, update or create", action)
        if "update" in action:
            _object(action["update"], f"{where}.update")
        elif "create" in action:
            _document_type(action["create"], f"{where}.create")
        else:
            raise _fail(where, "an object with exactly one key, update or create", action)
    return value


def _template(data: dict[str, Any]) -> None:
    if "template" not in data:
        raise _fail("template", f"the template's id (an integer from 1 to {MAX_TEMPLATE_ID})")
    _int(data["template"], "template", 1, MAX_TEMPLATE_ID)
    if "document_type" in data:
        _document_type(data["document_type"])
    if "auto_execute" in data:
        # 0-3 are business-process templates; larger values are robots, scripts, triggers.
        _int(data["auto_execute"], "auto_execute", 0, 3)
    _bool(data, "active")
    if "parameters" in data:
        data["parameters"] = _named_items(data["parameters"], "parameters", "default")
    if "constants" in data:
        data["constants"] = _named_items(data["constants"], "constants", "value")
    if "duration" in data:
        _int(data["duration"], "duration", 0, MAX_DURATION_S)
    if "actions" in data:
        _actions(data["actions"])


def _change(data: dict[str, Any], values: str, *, required: bool) -> None:
    if "element" not in data:
        raise _fail("element", "an element such as crm.deal:101 (required)")
    _element(data["element"])
    if "channel" not in data:
        raise _fail("channel", "the channel the change came through (required)")
    if data["channel"] == OLD_STAGE_CHANNEL:
        raise _fail(
            "channel",
            "trigger_stage_change (an automation trigger moved the item to its stage) or robot "
            f"(a robot's Change stage action): {OLD_STAGE_CHANNEL} is the old name, split in two",
            data["channel"],
        )
    if not isinstance(data["channel"], str) or data["channel"] not in ALL_CHANNELS:
        raise _fail("channel", "one of " + ", ".join(sorted(ALL_CHANNELS)), data["channel"])
    if required and values not in data:
        raise _fail(values, "an object of the changed fields (required, may be empty)")
    for key in (values, "parameters"):
        if key in data:
            _object(data[key], key)


def _create(data: dict[str, Any]) -> None:
    _change(data, "fields", required=False)


def _update(data: dict[str, Any]) -> None:
    _change(data, "changed", required=True)


def _import(data: dict[str, Any]) -> None:
    if "document_type" not in data:
        raise _fail("document_type", "the imported document type (required)")
    name = _document_type(data["document_type"])
    if document_type(name).module is Module.DISK:
        raise _fail("document_type", "a crm, feed or lists type (Drive has no import)", name)
    if "file" in data:
        _string(data["file"], "file")
    elements = data.get("elements")
    if not isinstance(elements, list) or not elements:
        raise _fail("elements", "a non-empty list of elements", elements)
    for index, element in enumerate(elements):
        _element(element, f"elements[{index}]")


def _delete(data: dict[str, Any]) -> None:
    if "element" not in data:
        raise _fail("element", "an element such as crm.deal:101 (required)")
    _element(data["element"])


_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "portal": _portal,
    "container": _container,
    "template": _template,
    "create": _create,
    "update": _update,
    "import": _import,
    "delete": _delete,
}


def parse_line(text: str, number: int) -> Command | None:
    """The command on one traffic line, None for a blank line; raises BadLineError."""
    if not text.strip():
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadLineError(
                number, None, "a JSON line in UTF-8 (the line has bytes that are not UTF-8)"
            ) from None
    if number > MAX_LINES:
        raise BadLineError(number, None, f"at most {MAX_LINES} lines in one traffic file")
    _anomalies.clear()
    try:
        raw = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        # Past the end of the line (a missing closing brace) is where the line broke, not
        # column 1 of the newline after it.
        column = min(error.pos, len(text.rstrip("\r\n"))) + 1
        raise BadLineError(
            number, None, f"a JSON object ({error.msg} at column {column})"
        ) from None
    except RecursionError:
        raise BadLineError(number, None, "a JSON object nested less deeply") from None
    if not isinstance(raw, dict):
        raise BadLineError(number, None, "a JSON object", f", got {_show(raw)}")
    try:
        if _anomalies or "\\u" in text:  # only an escape can write a surrogate or NUL
            _check_values(raw)
        return _command(raw, number)
    except TrafficError as error:
        raise BadLineError.wrap(number, error) from None


class _Duplicated(dict[str, Any]):
    """A JSON object that gave a key twice: refused, naming the key."""

    duplicates: tuple[str, ...] = ()


class _Unfit(str):
    """A JSON number no store keeps: an integer past 64 bits, NaN, Infinity."""


# The decoder's hooks note here that the line needs `_check_values` (cleared for each line).
_anomalies: list[str] = []


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    _anomalies.append("a duplicated key")
    duplicated = _Duplicated(found)
    duplicated.duplicates = tuple(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    return duplicated


def _integer(text: str) -> int | _Unfit:
    # Checked by length first: int() refuses more than 4,300 digits with a ValueError.
    if len(text) > 20 or not MIN_INT <= (value := int(text)) <= MAX_INT:
        return _unfit(text)
    return value


def _real(text: str) -> float | _Unfit:
    value = float(text)
    return value if math.isfinite(value) else _unfit(text)


def _unfit(text: str) -> _Unfit:
    _anomalies.append(text)
    return _Unfit(text)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_int=_integer, parse_float=_real, parse_constant=_unfit
)
# A lone surrogate cannot be written as UTF-8; PostgreSQL text cannot hold NUL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_values(raw: dict[str, Any]) -> None:
    """Refuses what JSON allows but no store keeps, naming the field (an explicit stack)."""
    stack: list[tuple[str, Any]] = [("", raw)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _Unfit):
            raise _fail(path, f"a finite number, integers from {MIN_INT} to {MAX_INT}", value[:40])
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise _fail(path, "text without lone surrogates (\\ud800-\\udfff) or NUL")
        elif isinstance(value, dict):
            if isinstance(value, _Duplicated):
                key = _escaped(value.duplicates[0])
                raise _fail(f"{path}.{key}" if path else key, "each key once (given twice)")
            for key, item in value.items():
                where = f"{path}.{_escaped(key)}" if path else _escaped(key)
                if _UNSTORABLE.search(key):
                    raise _fail(where, "a key without lone surrogates or NUL")
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))


def _escaped(key: str) -> str:
    return key if key.isprintable() and not _UNSTORABLE.search(key) else json.dumps(key)[1:-1]


def _command(raw: dict[str, Any], number: int) -> Command:
    op = raw.get("op")
    if not isinstance(op, str) or op not in FIELDS:
        raise _fail("op", "one of " + ", ".join(FIELDS), op)
    allowed = (*_COMMON, *FIELDS[op])
    for key in raw:
        if key not in allowed:
            raise _fail(key, f"no such field on {op} lines (allowed: {', '.join(allowed)})", key)
    at = None
    if "at" in raw:
        at = _parse_at(raw["at"])
    elif op in TIMED_OPS:
        raise _fail("at", f"a time (required on {op} lines)")
    actor = raw.get("actor")
    if actor is not None:
        _string(actor, "actor")
    data = {k: v for k, v in raw.items() if k not in _COMMON}
    _CHECKS[op](data)
    return make_command(op, Line(number, at, actor), data)
