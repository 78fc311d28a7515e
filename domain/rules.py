"""The SPEC's decision order as pure functions: one verdict, with every check made, per template."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.configs import AutoExecute, TemplateConfig
from domain.settings import REST_LICENCES, PortalSettings
from domain.vocabulary import (
    BACKGROUND_CHANNELS,
    DocumentType,
    Module,
    Outcome,
    Reason,
    Trigger,
)

CONFIRMED = "C"
INFERRED = "I"


@dataclass(frozen=True, slots=True)
class Change:
    """One add or change of an element, as the starter sees it."""

    document_type: DocumentType
    trigger: Trigger
    channel: str
    changed: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def is_background(self) -> bool:
        return self.channel in BACKGROUND_CHANNELS


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything outside the template that a decision looks at, at that moment."""

    settings: PortalSettings
    container_enabled: bool
    running: int


@dataclass(frozen=True, slots=True)
class Check:
    """One step of the decision order: passed or failed, with the values it looked at."""

    name: str
    passed: bool
    reason: Reason | None
    values: dict[str, Any]
    confidence: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "passed": self.passed,
            "reason": None if self.reason is None else self.reason.value,
            "values": self.values,
            "confidence": self.confidence,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: Reason
    checks: tuple[Check, ...]


_EXCLUDED_CHANNELS: dict[str, tuple[Reason, str, str]] = {
    "import": (
        Reason.CHANNEL_IMPORT,
        CONFIRMED,
        "crm/lib/Service/Operation/Import.php: bizproc is always disabled in import",
    ),
    "robot_conversion": (
        Reason.CHANNEL_ROBOT_CONVERSION,
        CONFIRMED,
        "crm: conversion by a robot does not run the starter",
    ),
    "system": (
        Reason.CHANNEL_SYSTEM,
        CONFIRMED,
        "crm: system bookkeeping updates do not run the starter",
    ),
    "iblock_api": (
        Reason.CHANNEL_DIRECT_API,
        CONFIRMED,
        "lists: direct iblock writes bypass the bizproc starter",
    ),
}


def _check_channel(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    channel, module = change.channel, change.document_type.module
    values: dict[str, Any] = {"channel": channel, "module": module.value}
    if channel in _EXCLUDED_CHANNELS:
        reason, confidence, source = _EXCLUDED_CHANNELS[channel]
        return Check("channel", False, reason, values, confidence, source)
    if channel in ("bizproc", "robot"):
        values["start_bp_within_bp"] = situation.settings.start_bp_within_bp
        if module is Module.CRM and situation.settings.start_bp_within_bp:
            return Check(
                "channel", True, None, values, CONFIRMED,
                "crm option start_bp_within_bp lets process-made changes start processes",
            )  # fmt: skip
        confidence = INFERRED if module is Module.DISK else CONFIRMED
        return Check(
            "channel", False, Reason.CHANNEL_INNER, values, confidence,
            "bizproc document service: changes made by a process do not start processes",
        )  # fmt: skip
    if channel == "robot_stage_change":
        entity = change.document_type.entity
        values["entity"] = entity
        if entity == "deal":
            return Check(
                "channel", False, Reason.ROBOT_STAGE_CHANGE, values, CONFIRMED,
                "crm: a deal stage moved by a robot does not run the starter",
            )  # fmt: skip
        if entity == "lead":
            return Check(
                "channel", False, Reason.ROBOT_STAGE_CHANGE, values, INFERRED,
                "crm: leads are taken to behave as deals",
            )  # fmt: skip
        return Check(
            "channel", True, None, values, INFERRED,
            "crm factory items run the starter on a robot's stage change",
        )  # fmt: skip
    return Check(
        "channel", True, None, values, CONFIRMED,
        f"{module.value}: the {channel} channel runs the starter",
    )  # fmt: skip


def _check_changes(change: Change, _: TemplateConfig, __: Situation) -> Check:
    if change.trigger is Trigger.ADD:
        return Check("changes", True, None, {"trigger": "add"}, CONFIRMED, "an add always counts")
    values: dict[str, Any] = {"changed": list(change.changed)}
    if change.changed:
        return Check("changes", True, None, values, CONFIRMED, "the update changed fields")
    return Check(
        "changes", False, Reason.NO_CHANGES, values, CONFIRMED,
        "an update with no changed field does not run the starter",
    )  # fmt: skip


def _check_rest_licence(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    settings = situation.settings
    values = {"channel": change.channel, "edition": settings.edition, "licence": settings.licence}
    gated = (
        change.document_type.module is Module.CRM
        and change.channel == "rest"
        and settings.edition == "cloud"
    )
    if gated and settings.licence not in REST_LICENCES:
        return Check(
            "rest_licence", False, Reason.REST_LICENCE, values, CONFIRMED,
            "crm legacy REST on cloud starts processes only with a paid, nfr or demo licence",
        )  # fmt: skip
    return Check(
        "rest_licence", True, None, values, CONFIRMED,
        "the licence gate applies to crm legacy REST on cloud only",
    )  # fmt: skip


def _check_feature(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    settings = situation.settings
    values: dict[str, Any] = {"plan": settings.plan, "bizproc": settings.bizproc}
    needed = settings.bizproc
    if change.document_type.module is Module.FEED:
        values["lists_processes"] = settings.lists_processes
        needed = needed and settings.lists_processes
    if needed:
        return Check("feature", True, None, values, CONFIRMED, "the plan has the features")
    return Check(
        "feature", False, Reason.FEATURE_DISABLED, values, CONFIRMED,
        "every module needs bizproc; Feed also needs lists_processes",
    )  # fmt: skip


def _check_container(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    if not change.document_type.has_container:
        return Check("container", True, None, {}, CONFIRMED, "CRM has no per-container switch")
    values = {
        "document_type": change.document_type.name,
        "bizproc_enabled": situation.container_enabled,
    }
    source = (
        "disk storage BIZPROC_ENABLED"
        if change.document_type.module is Module.DISK
        else "lists iblock BIZPROC='Y'"
    )
    if situation.container_enabled:
        return Check("container", True, None, values, CONFIRMED, source)
    return Check("container", False, Reason.CONTAINER_DISABLED, values, CONFIRMED, source)


def _check_active(_: Change, template: TemplateConfig, __: Situation) -> Check:
    values = {"active": template.active}
    source = "bizproc template ACTIVE"
    if template.active:
        return Check("active", True, None, values, CONFIRMED, source)
    return Check("active", False, Reason.TEMPLATE_INACTIVE, values, CONFIRMED, source)


def _check_auto_execute(change: Change, template: TemplateConfig, _: Situation) -> Check:
    bit = AutoExecute.CREATE if change.trigger is Trigger.ADD else AutoExecute.EDIT
    values = {"auto_execute": template.auto_execute, "bit": int(bit)}
    source = "CBPDocumentEventType: auto_execute & bit"
    if template.bits & bit:
        return Check("auto_execute", True, None, values, CONFIRMED, source)
    reason = Reason.NOT_ON_ADD if change.trigger is Trigger.ADD else Reason.NOT_ON_CHANGE
    return Check("auto_execute", False, reason, values, CONFIRMED, source)


def _check_parameters(change: Change, template: TemplateConfig, _: Situation) -> Check:
    module = change.document_type.module
    if module is Module.DISK:
        given = bool(change.parameters)
        wanted = bool(template.parameters)
        values: dict[str, Any] = {"values_given": given, "template_has_parameters": wanted}
        source = "disk: an upload with values starts only templates with parameters, and back"
        if given == wanted:
            return Check("parameters", True, None, values, CONFIRMED, source)
        return Check("parameters", False, Reason.PARAMETERS_MISMATCH, values, CONFIRMED, source)
    if module is Module.CRM:
        return Check(
            "parameters", True, None, {}, CONFIRMED,
            "crm never validates parameters: missing ones take the default or null",
        )  # fmt: skip
    missing = template.unset_parameters(change.parameters)
    values = {"missing_required": missing}
    source = "lists: a required parameter needs a value or a default"
    if missing:
        return Check("parameters", False, Reason.PARAMETER_REQUIRED, values, CONFIRMED, source)
    return Check("parameters", True, None, values, CONFIRMED, source)


def _check_constants(_: Change, template: TemplateConfig, __: Situation) -> Check:
    untuned = template.untuned_constants
    values = {"untuned": untuned}
    source = "bizproc: required constants must be set before a template starts"
    if untuned:
        return Check("constants", False, Reason.CONSTANTS_NOT_TUNED, values, CONFIRMED, source)
    return Check("constants", True, None, values, CONFIRMED, source)


def _check_limit(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    settings = situation.settings
    values: dict[str, Any] = {
        "limit": settings.limit,
        "running": situation.running,
        "policy": settings.limit_policy,
        "edition": settings.edition,
    }
    if settings.edition == "on_premise" and change.is_background:
        values["background"] = True
        return Check(
            "limit", True, None, values, CONFIRMED,
            "on-premise background starts ignore the limit (IgnoreSimultaneousProcessesLimit)",
        )  # fmt: skip
    if settings.limit == 0 or situation.running < settings.limit:
        confidence = CONFIRMED if settings.edition == "on_premise" else INFERRED
        return Check("limit", True, None, values, confidence, "a slot is free")
    if settings.limit_policy == "reject":
        return Check(
            "limit", False, Reason.LIMIT_REJECTED, values, CONFIRMED,
            "on-premise starter throws when the limit is reached; later templates are tried",
        )  # fmt: skip
    return Check(
        "limit", False, Reason.LIMIT_QUEUED, values, CONFIRMED,
        "cloud helpdesk: up to two workflows at a time for one item, the next waits",
    )  # fmt: skip


CheckFunction = Callable[[Change, TemplateConfig, Situation], Check]

DECISION_ORDER: tuple[CheckFunction, ...] = (
    _check_channel,
    _check_changes,
    _check_rest_licence,
    _check_feature,
    _check_container,
    _check_active,
    _check_auto_execute,
    _check_parameters,
    _check_constants,
    _check_limit,
)

CHECK_NAMES = (
    "channel",
    "changes",
    "rest_licence",
    "feature",
    "container",
    "active",
    "auto_execute",
    "parameters",
    "constants",
    "limit",
)

_OUTCOMES = {Reason.LIMIT_REJECTED: Outcome.REJECTED, Reason.LIMIT_QUEUED: Outcome.QUEUED}


def decide(change: Change, template: TemplateConfig, situation: Situation) -> Verdict:
    """The decision for one template: the first failing check's reason, with all checks shown."""
    checks = tuple(check(change, template, situation) for check in DECISION_ORDER)
    for check in checks:
        if check.reason is not None:
            return Verdict(_OUTCOMES.get(check.reason, Outcome.SKIPPED), check.reason, checks)
    started = Reason.AUTO_ON_ADD if change.trigger is Trigger.ADD else Reason.AUTO_ON_CHANGE
    return Verdict(Outcome.STARTED, started, checks)
