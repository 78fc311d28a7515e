"""The SPEC's decision order as pure functions: one verdict, with every check made, per template."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.configs import AutoExecute, TemplateConfig
from domain.settings import REST_LICENCES, PortalSettings
from domain.vocabulary import BACKGROUND_CHANNELS, DocumentType, Module, Outcome, Reason, Trigger

CONFIRMED = "C"
INFERRED = "I"


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule a check can land on: the reason it gives when it fails, how sure we are, why."""

    check: str
    reason: Reason | None
    confidence: str
    source: str


def _rules(*rules: tuple[str, Reason | None, str, str]) -> dict[str, Rule]:
    return {key: Rule(key.split(".", 1)[0], reason, c, source) for key, reason, c, source in rules}


R = Reason
RULES: dict[str, Rule] = _rules(
    ("channel.starts", None, CONFIRMED, "the channel's callers run the bizproc starter"),
    (
        "channel.import",
        R.CHANNEL_IMPORT,
        CONFIRMED,
        "crm/lib/Service/Operation/Import.php: bizproc is always disabled in import",
    ),
    (
        "channel.inner",
        R.CHANNEL_INNER,
        CONFIRMED,
        "bizproc document service: a change made by a process does not start processes",
    ),
    (
        "channel.inner_disk",
        R.CHANNEL_INNER,
        INFERRED,
        "disk: taken to behave as the other modules for process-made changes",
    ),
    (
        "channel.within_bp",
        None,
        CONFIRMED,
        "crm option start_bp_within_bp lets process-made changes start processes",
    ),
    (
        "channel.robot_conversion",
        R.CHANNEL_ROBOT_CONVERSION,
        CONFIRMED,
        "crm: a conversion made by a robot does not run the starter",
    ),
    (
        "channel.system",
        R.CHANNEL_SYSTEM,
        CONFIRMED,
        "crm: system bookkeeping (last activity, recurring templates) does not run the starter",
    ),
    (
        "channel.direct_api",
        R.CHANNEL_DIRECT_API,
        CONFIRMED,
        "lists: direct iblock writes bypass the bizproc starter",
    ),
    (
        "channel.stage_deal",
        R.ROBOT_STAGE_CHANGE,
        CONFIRMED,
        "crm: a deal stage moved by a robot does not run the starter",
    ),
    (
        "channel.stage_lead",
        R.ROBOT_STAGE_CHANGE,
        INFERRED,
        "crm: leads are taken to behave as deals on a robot's stage change",
    ),
    (
        "channel.stage_factory",
        None,
        INFERRED,
        "crm factory items are taken to run the starter on a robot's stage change",
    ),
    ("changes.add", None, CONFIRMED, "an add always runs the starter"),
    ("changes.fields", None, CONFIRMED, "the update changed at least one field"),
    (
        "changes.none",
        R.NO_CHANGES,
        CONFIRMED,
        "an update whose changed-field set is empty does not run the starter",
    ),
    (
        "rest_licence.ungated",
        None,
        CONFIRMED,
        "the licence gate applies to crm legacy REST on cloud only",
    ),
    (
        "rest_licence.licensed",
        None,
        CONFIRMED,
        "crm legacy REST on cloud with a paid, nfr or demo licence",
    ),
    (
        "rest_licence.unlicensed",
        R.REST_LICENCE,
        CONFIRMED,
        "crm legacy REST on cloud starts processes only with a paid, nfr or demo licence",
    ),
    ("feature.on", None, CONFIRMED, "every module needs bizproc; Feed also lists_processes"),
    (
        "feature.off",
        R.FEATURE_DISABLED,
        CONFIRMED,
        "every module needs bizproc; Feed also needs lists_processes",
    ),
    ("container.none", None, CONFIRMED, "CRM has no per-list or per-storage switch"),
    ("container.on", None, CONFIRMED, "lists BIZPROC='Y' / disk storage BIZPROC_ENABLED"),
    (
        "container.off",
        R.CONTAINER_DISABLED,
        CONFIRMED,
        "lists BIZPROC='Y' / disk storage BIZPROC_ENABLED is off",
    ),
    ("active.yes", None, CONFIRMED, "bizproc template ACTIVE"),
    ("active.no", R.TEMPLATE_INACTIVE, CONFIRMED, "bizproc template ACTIVE is off"),
    ("auto_execute.match", None, CONFIRMED, "CBPDocumentEventType: auto_execute & bit != 0"),
    (
        "auto_execute.not_on_add",
        R.NOT_ON_ADD,
        CONFIRMED,
        "CBPDocumentEventType::Create (1) is not in auto_execute",
    ),
    (
        "auto_execute.not_on_change",
        R.NOT_ON_CHANGE,
        CONFIRMED,
        "CBPDocumentEventType::Edit (2) is not in auto_execute",
    ),
    (
        "parameters.crm",
        None,
        CONFIRMED,
        "crm never validates parameters: missing ones take the default or null",
    ),
    (
        "parameters.disk_match",
        None,
        CONFIRMED,
        "disk: values given start only templates with parameters, none given only those without",
    ),
    (
        "parameters.disk_mismatch",
        R.PARAMETERS_MISMATCH,
        CONFIRMED,
        "disk: values given start only templates with parameters, none given only those without",
    ),
    ("parameters.set", None, CONFIRMED, "lists: every required parameter has a value or a default"),
    (
        "parameters.required",
        R.PARAMETER_REQUIRED,
        CONFIRMED,
        "lists: a required parameter has neither a value nor a default",
    ),
    ("constants.tuned", None, CONFIRMED, "bizproc: every required constant has a value"),
    (
        "constants.untuned",
        R.CONSTANTS_NOT_TUNED,
        CONFIRMED,
        "bizproc: a required constant has no value",
    ),
    (
        "limit.background",
        None,
        CONFIRMED,
        "on-premise background starts ignore the limit (IgnoreSimultaneousProcessesLimit)",
    ),
    ("limit.unlimited", None, CONFIRMED, "limit 0: any number of processes may run"),
    ("limit.free", None, CONFIRMED, "fewer instances run on the document than the limit"),
    (
        "limit.reject",
        R.LIMIT_REJECTED,
        CONFIRMED,
        "on-premise starter throws at the limit; the next templates are still tried",
    ),
    (
        "limit.queue",
        R.LIMIT_QUEUED,
        CONFIRMED,
        "cloud helpdesk: up to two workflows at a time for one item, the next one waits",
    ),
)


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
    """One step of the decision order: the rule it landed on and the values it looked at."""

    rule: str
    values: dict[str, Any]

    @property
    def name(self) -> str:
        return RULES[self.rule].check

    @property
    def reason(self) -> Reason | None:
        return RULES[self.rule].reason

    @property
    def passed(self) -> bool:
        return RULES[self.rule].reason is None

    def as_record(self) -> list[Any]:
        """The compact form kept in the decision event: `[rule, values]`."""
        return [self.rule, self.values]


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: Reason
    checks: tuple[Check, ...]


_EXCLUDED = {
    "import": "channel.import",
    "robot_conversion": "channel.robot_conversion",
    "system": "channel.system",
    "iblock_api": "channel.direct_api",
}


def _channel(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    channel, module = change.channel, change.document_type.module
    if channel in _EXCLUDED:
        return Check(_EXCLUDED[channel], {"channel": channel})
    if channel in ("bizproc", "robot"):
        within = situation.settings.start_bp_within_bp
        values = {"channel": channel, "start_bp_within_bp": within}
        if module is Module.CRM:
            return Check("channel.within_bp" if within else "channel.inner", values)
        return Check("channel.inner_disk" if module is Module.DISK else "channel.inner", values)
    if channel == "robot_stage_change":
        entity = change.document_type.entity
        rule = {"deal": "channel.stage_deal", "lead": "channel.stage_lead"}.get(
            entity, "channel.stage_factory"
        )
        return Check(rule, {"channel": channel, "entity": entity})
    return Check("channel.starts", {"channel": channel})


def _changes(change: Change, _: TemplateConfig, __: Situation) -> Check:
    if change.trigger is Trigger.ADD:
        return Check("changes.add", {})
    return Check(
        "changes.fields" if change.changed else "changes.none", {"changed": list(change.changed)}
    )


def _rest_licence(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    settings = situation.settings
    gated = (
        change.document_type.module is Module.CRM
        and change.channel == "rest"
        and settings.edition == "cloud"
    )
    if not gated:
        return Check("rest_licence.ungated", {})
    values = {"edition": settings.edition, "licence": settings.licence}
    licensed = settings.licence in REST_LICENCES
    return Check("rest_licence.licensed" if licensed else "rest_licence.unlicensed", values)


def _feature(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    settings = situation.settings
    values: dict[str, Any] = {"plan": settings.plan, "bizproc": settings.bizproc}
    enabled = settings.bizproc
    if change.document_type.module is Module.FEED:
        values["lists_processes"] = settings.lists_processes
        enabled = enabled and settings.lists_processes
    return Check("feature.on" if enabled else "feature.off", values)


def _container(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    if not change.document_type.has_container:
        return Check("container.none", {})
    enabled = situation.container_enabled
    return Check("container.on" if enabled else "container.off", {"bizproc_enabled": enabled})


def _active(_: Change, template: TemplateConfig, __: Situation) -> Check:
    return Check("active.yes" if template.active else "active.no", {"active": template.active})


def _auto_execute(change: Change, template: TemplateConfig, _: Situation) -> Check:
    adding = change.trigger is Trigger.ADD
    bit = AutoExecute.CREATE if adding else AutoExecute.EDIT
    values = {"auto_execute": template.auto_execute, "bit": int(bit)}
    if template.auto_execute & bit:
        return Check("auto_execute.match", values)
    return Check("auto_execute.not_on_add" if adding else "auto_execute.not_on_change", values)


def _parameters(change: Change, template: TemplateConfig, _: Situation) -> Check:
    module = change.document_type.module
    if module is Module.CRM:
        return Check("parameters.crm", {})
    if module is Module.DISK:
        given, wanted = bool(change.parameters), bool(template.parameters)
        values = {"values_given": given, "template_has_parameters": wanted}
        return Check(
            "parameters.disk_match" if given == wanted else "parameters.disk_mismatch", values
        )
    missing = template.unset_parameters(change.parameters)
    return Check("parameters.required" if missing else "parameters.set", {"missing": missing})


def _constants(_: Change, template: TemplateConfig, __: Situation) -> Check:
    untuned = template.untuned_constants
    return Check("constants.untuned" if untuned else "constants.tuned", {"untuned": untuned})


def _limit(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    settings = situation.settings
    values: dict[str, Any] = {
        "limit": settings.limit,
        "running": situation.running,
        "policy": settings.limit_policy,
        "edition": settings.edition,
    }
    if settings.edition == "on_premise" and change.is_background:
        return Check("limit.background", values)
    if settings.limit == 0:
        return Check("limit.unlimited", values)
    if situation.running < settings.limit:
        return Check("limit.free", values)
    return Check("limit.reject" if settings.limit_policy == "reject" else "limit.queue", values)


CheckFunction = Callable[[Change, TemplateConfig, Situation], Check]

DECISION_ORDER: tuple[CheckFunction, ...] = (
    _channel,
    _changes,
    _rest_licence,
    _feature,
    _container,
    _active,
    _auto_execute,
    _parameters,
    _constants,
    _limit,
)

_OUTCOMES = {Reason.LIMIT_REJECTED: Outcome.REJECTED, Reason.LIMIT_QUEUED: Outcome.QUEUED}


def decide(
    change: Change,
    template: TemplateConfig,
    situation: Situation,
    order: tuple[CheckFunction, ...] = DECISION_ORDER,
) -> Verdict:
    """The decision for one template: the first failing check's reason, with all checks shown."""
    checks = tuple(check(change, template, situation) for check in order)
    for check in checks:
        reason = RULES[check.rule].reason
        if reason is not None:
            return Verdict(_OUTCOMES.get(reason, Outcome.SKIPPED), reason, checks)
    started = Reason.AUTO_ON_ADD if change.trigger is Trigger.ADD else Reason.AUTO_ON_CHANGE
    return Verdict(Outcome.STARTED, started, checks)
