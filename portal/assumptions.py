"""What REST cannot show (plan, licence, active templates, ...): from --set or portal.toml."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any

from portal.fields import offset
from portal.snapshot import SnapshotError
from simulations.overrides import Override, OverrideError, parse_setting

SETTINGS_FILE = "portal.toml"
# The SPEC's defaults before any portal line: what the audit assumes unless told otherwise.
PORTAL_DEFAULTS: dict[str, Any] = {
    "edition": "cloud",
    "plan": "professional",
    "licence": "paid",
    "features.bizproc": True,
    "features.lists_processes": True,
    "email_integration": True,
    "telephony": True,
    "start_bp_within_bp": False,
    "limit_simultaneous_processes": 2,
    "limit_policy": "queue",
}
ON_PREMISE_LIMITS = {"limit_simultaneous_processes": 0, "limit_policy": "reject"}
AUDIT_KEYS = ("audit.timezone",)


@dataclass(frozen=True, slots=True)
class Assumption:
    """One value the audit rests on without REST showing it, and where it came from."""

    key: str
    value: Any
    source: str  # "--set", "portal.toml", or "default"
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source, "note": self.note}


@dataclass
class Assumptions:
    portal: dict[str, Any] = field(default_factory=dict)  # given portal keys only
    templates: dict[int, dict[str, Any]] = field(default_factory=dict)
    containers: dict[str, bool] = field(default_factory=dict)
    zone: timezone | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def portal_line(self) -> dict[str, Any]:
        line: dict[str, Any] = {"op": "portal"}
        for key, value in self.portal.items():
            if key.startswith("features."):
                line.setdefault("features", {})[key.removeprefix("features.")] = value
            else:
                line[key] = value
        return line

    def effective_portal(self) -> dict[str, Any]:
        values = dict(PORTAL_DEFAULTS)
        if self.portal.get("edition") == "on_premise":
            values |= ON_PREMISE_LIMITS
        if self.portal.get("plan") in ("free", "basic"):
            values |= {"features.bizproc": False, "features.lists_processes": False}
        return values | self.portal

    def listed(self, tz: timezone, templates: list[int], containers: list[str]) -> list[Assumption]:
        """Every assumption, given or default, for the audit's output."""
        found = []
        for key, value in self.effective_portal().items():
            source = self.sources.get(f"portal.{key}", "default")
            found.append(Assumption(f"portal.{key}", value, source, "REST cannot show it"))
        for template in templates:
            given = self.templates.get(template, {})
            for name, default in (("active", True), ("duration", 0)):
                key = f"template.{template}.{name}"
                note = (
                    "REST cannot tell an inactive template"
                    if name == "active"
                    else "how long an instance runs (s): REST shows running ones only"
                )
                if name in given:
                    found.append(Assumption(key, given[name], self.sources[key], note))
                elif name == "active":
                    found.append(Assumption(key, default, "default", note))
            for name, value in given.items():
                key = f"template.{template}.{name}"
                if name not in ("active", "duration"):
                    found.append(Assumption(key, value, self.sources[key], "replaces REST's"))
        for container in containers:
            key = f"container.{container}.bizproc_enabled"
            value = self.containers.get(container, True)
            found.append(
                Assumption(
                    key,
                    value,
                    self.sources.get(key, "default"),
                    "the list's or storage's business-process switch: not read over REST",
                )
            )
        found.append(
            Assumption(
                "audit.timezone",
                _offset_text(tz),
                self.sources.get("audit.timezone", "default"),
                "the portal's time zone for list dates in locale format",
            )
        )
        return found


def _offset_text(tz: timezone) -> str:
    delta = tz.utcoffset(None)
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def read_assumptions(folder: Path | None, settings: list[str]) -> Assumptions:
    """portal.toml beside the snapshot (if any), then --set on top; raises SnapshotError."""
    assumptions = Assumptions()
    path = folder / SETTINGS_FILE if folder is not None else None
    if path is not None and path.is_file():
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise SnapshotError(SETTINGS_FILE, None, None, f"TOML ({error})") from None
        for key, value in _flatten(table):
            _apply(assumptions, SETTINGS_FILE, key, value)
    for setting in settings:
        key, equals, text = setting.partition("=")
        if not equals:
            raise SnapshotError("--set", None, setting, "KEY=VALUE, e.g. portal.plan=basic")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        _apply(assumptions, "--set", key, value)
    return assumptions


def _flatten(table: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in table.items():
        name = f"{prefix}{key}"
        # A scope, a template's or a container's table: its keys go one level down.
        if isinstance(value, dict):
            pairs.extend(_flatten(value, f"{name}."))
        else:
            pairs.append((name, value))
    return pairs


def _apply(assumptions: Assumptions, source: str, key: str, value: Any) -> None:
    if key in AUDIT_KEYS:
        try:
            assumptions.zone = offset(str(value))
        except ValueError:
            raise SnapshotError(source, None, key, "an offset such as +03:00", value) from None
        assumptions.sources[key] = source
        return
    try:
        override: Override = parse_setting(f"{key}={json.dumps(value)}")
    except OverrideError as error:
        raise SnapshotError(source, None, key, error.problem) from None
    assumptions.sources[override.key] = source
    if override.scope == "portal":
        assumptions.portal[override.field] = override.value
    elif override.scope == "container" and isinstance(override.target, str):
        assumptions.containers[override.target] = bool(override.value)
    elif isinstance(override.target, int):
        assumptions.templates.setdefault(override.target, {})[override.field] = override.value
