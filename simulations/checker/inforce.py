"""What was in force at an event: portal settings, containers, template versions."""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from domain.settings import PortalSettings
from projections.database import ReadDatabase
from simulations.checker.spec import LAST_ID

# What was in force at an event: portal settings, containers, template versions.

Span = tuple[int, int]  # the notification ids strictly between the two


@dataclass
class InForce:
    """The settings and template versions of the ledger, looked up by notification id."""

    portal_ids: list[int] = field(default_factory=list)
    portal: list[dict[str, Any]] = field(default_factory=list)
    containers: dict[str, tuple[list[int], list[bool]]] = field(default_factory=dict)
    versions: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)
    configs: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    created: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    _expected: dict[tuple[str, int], frozenset[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, db: ReadDatabase) -> InForce:
        found = cls()
        for row in db.query("SELECT id, kind, subject, settings FROM settings ORDER BY id"):
            values = json.loads(row["settings"])
            if row["kind"] == "portal":
                found.portal_ids.append(int(row["id"]))
                found.portal.append(values)
            else:
                ids, enabled = found.containers.setdefault(row["subject"], ([], []))
                ids.append(int(row["id"]))
                enabled.append(bool(values["bizproc_enabled"]))
        for row in db.query(
            "SELECT template, version, id, document_type, config FROM templates ORDER BY id"
        ):
            template, version, at = int(row["template"]), int(row["version"]), int(row["id"])
            ids, numbers = found.versions.setdefault(template, ([], []))
            if not ids:
                made, templates = found.created.setdefault(row["document_type"], ([], []))
                made.append(at)
                templates.append(template)
            ids.append(at)
            numbers.append(version)
            found.configs[(template, version)] = json.loads(row["config"])
        return found

    def settings(self, at: int) -> dict[str, Any]:
        """The portal settings in force just before event `at`."""
        index = bisect_left(self.portal_ids, at)
        return self.portal[index - 1] if index else DEFAULT_SETTINGS

    def container_enabled(self, document_type: str, at: int) -> bool:
        ids, enabled = self.containers.get(document_type, ([], []))
        index = bisect_left(ids, at)
        return enabled[index - 1] if index else True

    def version(self, template: int, at: int) -> int | None:
        ids, numbers = self.versions.get(template, ([], []))
        index = bisect_left(ids, at)
        return numbers[index - 1] if index else None

    def templates_of(self, document_type: str, at: int) -> frozenset[int]:
        """The templates of a document type that existed just before event `at`."""
        made, templates = self.created.get(document_type, ([], []))
        count = bisect_left(made, at)
        key = (document_type, count)
        if key not in self._expected:
            self._expected[key] = frozenset(templates[:count])
        return self._expected[key]

    def settings_spans(self, holds: Callable[[dict[str, Any]], bool]) -> list[Span]:
        """The stretches of the ledger during which the portal settings satisfy `holds`."""
        bounds = [0, *self.portal_ids, LAST_ID]
        states = [DEFAULT_SETTINGS, *self.portal]
        return [(bounds[i], bounds[i + 1]) for i, state in enumerate(states) if holds(state)]

    def container_off_spans(self) -> dict[str, list[Span]]:
        """For each list or storage, the stretches during which its business processes are off."""
        spans: dict[str, list[Span]] = {}
        for document_type, (ids, enabled) in self.containers.items():
            bounds = [*ids, LAST_ID]
            for i, on in enumerate(enabled):
                if not on:
                    spans.setdefault(document_type, []).append((bounds[i], bounds[i + 1]))
        return spans

    def untuned_list_spans(self) -> dict[str, list[Span]]:
        """For each Feed list or workgroup list, the stretches during which one of its on-add
        or on-change templates, active or not, has a required constant without a value."""
        events: list[tuple[int, int, dict[str, Any]]] = []
        for template, (ids, numbers) in self.versions.items():
            for at, version in zip(ids, numbers, strict=True):
                config = self.configs[(template, version)]
                if config["document_type"].split(".", 1)[0] in ("feed", "lists"):
                    events.append((at, template, config))
        current: dict[str, dict[int, dict[str, Any]]] = {}
        spans: dict[str, list[Span]] = {}
        opened: dict[str, int] = {}
        for at, template, config in sorted(events, key=lambda e: e[0]):
            document_type = config["document_type"]
            configs = current.setdefault(document_type, {})
            configs[template] = config
            untuned = any(
                int(c["auto_execute"]) & 3
                and any(k.get("required") and k.get("value") in (None, "") for k in c["constants"])
                for c in configs.values()
            )
            if untuned and document_type not in opened:
                opened[document_type] = at
            elif not untuned and document_type in opened:
                spans.setdefault(document_type, []).append((opened.pop(document_type), at))
        for document_type, at in opened.items():
            spans.setdefault(document_type, []).append((at, LAST_ID))
        return spans

    def version_spans(self) -> Iterator[tuple[int, Span, int]]:
        """Each template version with the stretch of the ledger during which it was in force."""
        for template, (ids, numbers) in self.versions.items():
            bounds = [*ids, LAST_ID]
            for i, version in enumerate(numbers):
                yield template, (bounds[i], bounds[i + 1]), version


DEFAULT_SETTINGS: dict[str, Any] = dict(PortalSettings().as_dict())
