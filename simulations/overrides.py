"""Settings forced for a whole traffic stream: parsed from KEY=VALUE, applied line by line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from domain.settings import FEATURES
from simulations.traffic import FIELDS, BadLineError, parse_line

Scope = Literal["template", "portal", "container"]
TEMPLATE_FIELDS = ("auto_execute", "active", "duration", "parameters", "constants", "actions")
PORTAL_FIELDS = (
    *(key for key in FIELDS["portal"] if key != "features"),
    *(f"features.{feature}" for feature in FEATURES),
)
CONTAINER_FIELD = "bizproc_enabled"
# A portal line that changes the edition resets these to the edition's defaults.
RESET_BY_EDITION = ("limit_simultaneous_processes", "limit_policy")
_EXAMPLE = "e.g. template.11.auto_execute=3, portal.plan=basic"


class OverrideError(ValueError):
    """A --set value refused: which setting, and what was expected."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting!r}: {problem}")


@dataclass(frozen=True, slots=True)
class Override:
    """One setting as if it had been the configuration all along."""

    setting: str
    scope: Scope
    target: int | str | None  # template id, container document type, None for the portal
    field: str  # for the portal, a feature is `features.<name>`
    value: Any

    @property
    def key(self) -> str:
        return self.setting.partition("=")[0]


def parse_setting(setting: str) -> Override:
    """`template.11.auto_execute=3` as an Override; raises OverrideError when refused.

    Keys: `template.<id>.<field>` (auto_execute, active, duration, parameters, constants,
    actions), `portal.<key>` (every portal key, a feature as `portal.features.bizproc`),
    `container.<document_type>.bizproc_enabled`. The value is read as JSON when it parses
    (true, 3, [...]), else taken as a string (`basic`). It is checked the way a traffic line
    setting it would be.
    """
    key, equals, text = setting.partition("=")
    if not equals or not key:
        raise OverrideError(setting, f"expected KEY=VALUE, {_EXAMPLE}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    scope, _, rest = key.partition(".")
    if scope == "template":
        return _template(setting, rest, value)
    if scope == "portal":
        return _portal(setting, rest, value)
    if scope == "container":
        return _container(setting, rest, value)
    raise OverrideError(
        setting, f"expected a key starting with template., portal. or container., {_EXAMPLE}"
    )


def _template(setting: str, rest: str, value: Any) -> Override:
    number, _, field = rest.partition(".")
    if not re.fullmatch("[0-9]+", number) or not field:
        raise OverrideError(setting, "expected template.<id>.<field>, the id a positive integer")
    if field not in TEMPLATE_FIELDS:
        raise OverrideError(setting, "expected a template field: " + ", ".join(TEMPLATE_FIELDS))
    template = int(number)
    _check(setting, {"op": "template", "template": template, field: value})
    return Override(setting, "template", template, field, value)


def _portal(setting: str, field: str, value: Any) -> Override:
    if field not in PORTAL_FIELDS:
        raise OverrideError(setting, "expected a portal key: " + ", ".join(PORTAL_FIELDS))
    feature = field.removeprefix("features.")
    given = {"features": {feature: value}} if feature != field else {field: value}
    _check(setting, {"op": "portal", **given})
    return Override(setting, "portal", None, field, value)


def _container(setting: str, rest: str, value: Any) -> Override:
    document_type, _, field = rest.rpartition(".")
    if field != CONTAINER_FIELD or not document_type:
        raise OverrideError(setting, f"expected container.<document type>.{CONTAINER_FIELD}")
    _check(setting, {"op": "container", "document_type": document_type, CONTAINER_FIELD: value})
    return Override(setting, "container", document_type, CONTAINER_FIELD, value)


def _check(setting: str, line: dict[str, Any]) -> None:
    try:
        parse_line(json.dumps(line), 1)
    except BadLineError as error:
        where = f"{error.field}: " if error.field else ""
        raise OverrideError(setting, f"{where}expected {error.expected}{error.got}") from None


class ChangedTraffic:
    """Traffic lines rewritten so that the overrides hold from the first line on.

    Every line setting an overridden key gets the overridden value; portal and container
    overrides also get one settings line before the traffic (`injected` lines, which shift
    every line number by that much); a template override also goes onto the template's first
    line. Lines are rewritten one at a time, as they stream.
    """

    def __init__(self, overrides: Sequence[Override]) -> None:
        keys: dict[str, str] = {}
        for override in overrides:
            if override.key in keys:
                raise OverrideError(
                    override.setting, f"{override.key} is already set by {keys[override.key]!r}"
                )
            keys[override.key] = override.setting
        self.overrides = tuple(overrides)
        self.portal = {o.field: o.value for o in overrides if o.scope == "portal"}
        self.containers = {o.target: o.value for o in overrides if o.scope == "container"}
        self.templates: dict[int, dict[str, Any]] = {}
        for o in overrides:
            if o.scope == "template" and isinstance(o.target, int):
                self.templates.setdefault(o.target, {})[o.field] = o.value
        self.created: set[int] = set()
        self.prelude = self._prelude()

    @property
    def injected(self) -> int:
        return len(self.prelude)

    def unused(self) -> tuple[str, ...]:
        """The template overrides whose template no line created (once the lines are read)."""
        return tuple(
            o.setting
            for o in self.overrides
            if o.scope == "template" and o.target not in self.created
        )

    def _prelude(self) -> list[str]:
        lines: list[dict[str, Any]] = []
        if self.portal:
            lines.append(self._portal({"op": "portal"}, initial=True))
        lines.extend(
            {"op": "container", "document_type": document_type, CONTAINER_FIELD: value}
            for document_type, value in self.containers.items()
        )
        return [_dump(line) for line in lines]

    def lines(self, original: Iterable[str]) -> Iterator[str]:
        """The changed traffic: the prelude, then each original line, rewritten if it must be."""
        yield from self.prelude
        for text in original:
            yield self._rewrite(text)

    def _rewrite(self, text: str) -> str:
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            return text  # the replay refuses it, with its line number
        if not isinstance(line, dict):
            return text
        op = line.get("op")
        if op == "portal" and self.portal:
            changed = self._portal(dict(line), initial=False)
        elif op == "container" and line.get("document_type") in self.containers:
            changed = dict(line)
            if CONTAINER_FIELD in changed:
                changed[CONTAINER_FIELD] = self.containers[line["document_type"]]
        elif op == "template" and _template_id(line) in self.templates:
            changed = self._template(dict(line))
        else:
            return text
        if changed == line:
            return text
        return _dump(changed) + ("\n" if text.endswith("\n") else "")

    def _portal(self, line: dict[str, Any], *, initial: bool) -> dict[str, Any]:
        for field, value in self.portal.items():
            feature = field.removeprefix("features.")
            if feature != field:
                features = line.get("features", {})
                # A line giving a plan resets both features: it sets this one too.
                if isinstance(features, dict) and (
                    initial or "plan" in line or feature in features
                ):
                    line["features"] = features | {feature: value}
            elif initial or field in line or (field in RESET_BY_EDITION and "edition" in line):
                line[field] = value
        return line

    def _template(self, line: dict[str, Any]) -> dict[str, Any]:
        template: int = line["template"]
        fields = self.templates[template]
        if template not in self.created:
            self.created.add(template)
            return line | fields
        return line | {field: value for field, value in fields.items() if field in line}


def _template_id(line: dict[str, Any]) -> int | None:
    template = line.get("template")
    return template if isinstance(template, int) and not isinstance(template, bool) else None


def _dump(line: dict[str, Any]) -> str:
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False)
