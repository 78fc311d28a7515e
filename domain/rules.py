"""The SPEC's decision order as pure functions: one verdict, with every check made, per template."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from domain.configs import AutoExecute, TemplateConfig
from domain.decisions import CheckRecord, CheckValue
from domain.json import JsonObject
from domain.settings import REST_LICENCES, PortalSettings
from domain.vocabulary import (
    BACKGROUND_CHANNELS,
    CRM_CLASSIC,
    DocumentType,
    Module,
    Outcome,
    Reason,
    Trigger,
)

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
        "channel.email",
        None,
        INFERRED,
        "crm e-mail: modelled on the newer path, which checks active and constants; the older "
        "crm_email.php path starts through CBPDocument::autoStartWorkflows and checks neither",
    ),
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
        "channel.disk_process_add",
        None,
        CONFIRMED,
        "disk: a file a process creates is a first version, decided like an upload without "
        "parameter values",
    ),
    (
        "channel.disk_process_change",
        R.CHANNEL_INNER,
        CONFIRMED,
        "disk: a process's change of a file makes no new version, so nothing starts",
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
        "channel.trigger_stage",
        R.TRIGGER_STAGE_CHANGE,
        CONFIRMED,
        "crm automation trigger: a deal or lead it moves to a stage is updated with business "
        "processes switched off; start_bp_within_bp does not lift it",
    ),
    (
        "channel.trigger_stage_factory",
        None,
        CONFIRMED,
        "crm factory items run the starter when an automation trigger moves their stage",
    ),
    ("changes.add", None, CONFIRMED, "an add always runs the starter"),
    ("changes.fields", None, CONFIRMED, "the update changed at least one field"),
    (
        "changes.legacy_rest",
        None,
        CONFIRMED,
        "crm legacy REST update starts on-change templates whether or not a field changed "
        "(CBPDocument::autoStartWorkflows)",
    ),
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
        "container.rest",
        None,
        CONFIRMED,
        "lists REST (lists.element.add/update) does not look at the list's BIZPROC switch",
    ),
    (
        "container.off",
        R.CONTAINER_DISABLED,
        CONFIRMED,
        "lists BIZPROC='Y' / disk storage BIZPROC_ENABLED is off",
    ),
    ("active.yes", None, CONFIRMED, "bizproc template ACTIVE"),
    ("active.no", R.TEMPLATE_INACTIVE, CONFIRMED, "bizproc template ACTIVE is off"),
    (
        "active.legacy_rest",
        None,
        CONFIRMED,
        "not checked on this path: crm legacy REST starts through the older starter "
        "CBPDocument::autoStartWorkflows, whose CBPWorkflowTemplateLoader::"
        "searchTemplatesByDocumentType filters by document type and auto_execute only",
    ),
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
    (
        "parameters.disk_set",
        None,
        CONFIRMED,
        "disk: values given, and every required parameter has a value or a default",
    ),
    (
        "parameters.disk_required",
        R.PARAMETER_REQUIRED,
        CONFIRMED,
        "disk: values given, and a required parameter has neither a value nor a default",
    ),
    ("parameters.set", None, CONFIRMED, "lists: every required parameter has a value or a default"),
    (
        "parameters.required",
        R.PARAMETER_REQUIRED,
        CONFIRMED,
        "lists: a required parameter has neither a value nor a default",
    ),
    (
        "parameters.rest",
        None,
        CONFIRMED,
        "lists REST discards the parameter errors: missing parameters start as null",
    ),
    ("constants.tuned", None, CONFIRMED, "bizproc: every required constant has a value"),
    (
        "constants.untuned",
        R.CONSTANTS_NOT_TUNED,
        CONFIRMED,
        "bizproc: a required constant has no value",
    ),
    (
        "constants.legacy_rest",
        None,
        CONFIRMED,
        "not checked on this path: crm legacy REST starts through CBPDocument::"
        "autoStartWorkflows, which does not look at constants",
    ),
    (
        "constants.list_tuned",
        None,
        CONFIRMED,
        "lists: no on-add or on-change template of the list has an untuned required constant",
    ),
    (
        "constants.list_untuned",
        R.CONSTANTS_NOT_TUNED,
        CONFIRMED,
        "lists: an on-add or on-change template of the list, active or not, has an untuned "
        "required constant, so no template of the list starts",
    ),
    (
        "constants.write_refused",
        R.CONSTANTS_NOT_TUNED,
        CONFIRMED,
        "lists REST refuses the write: an on-add or on-change template of the list has an "
        'untuned required constant ("Workflow constants need to be configured"); nothing was '
        "written and no template starts",
    ),
    (
        "limit.background",
        None,
        CONFIRMED,
        "on-premise background starts (calls, web forms, open-line changes) ignore the limit "
        "(IgnoreSimultaneousProcessesLimit)",
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
    (
        "limit.queue_other",
        R.LIMIT_QUEUED,
        INFERRED,
        "the cloud helpdesk states the limit for CRM items; Feed, lists and Drive are taken "
        "to queue alike",
    ),
)


@dataclass(frozen=True, slots=True)
class Change:
    """One add or change of an element, as the starter sees it."""

    document_type: DocumentType
    trigger: Trigger
    channel: str
    changed: tuple[str, ...] = ()
    parameters: JsonObject = field(default_factory=dict)

    @property
    def is_background(self) -> bool:
        return self.channel in BACKGROUND_CHANNELS[self.trigger]

    @property
    def is_legacy_crm_rest(self) -> bool:
        """CRM's legacy REST on lead, deal, contact, company: Bitrix's older starter."""
        dt = self.document_type
        return self.channel == "rest" and dt.module is Module.CRM and dt.entity in CRM_CLASSIC

    @property
    def is_lists_rest(self) -> bool:
        return self.channel == "rest" and self.document_type.module in LIST_MODULES


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything outside the template that a decision looks at, at that moment.

    `list_untuned` names, for a Feed list or workgroup list, every on-add or on-change
    template of the list (active or not) with an untuned required constant.
    """

    settings: PortalSettings
    container_enabled: bool
    running: int
    list_untuned: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Check:
    """One step of the decision order: the rule it landed on and the values it looked at."""

    rule: str
    values: Mapping[str, CheckValue]

    @property
    def name(self) -> str:
        return RULES[self.rule].check

    @property
    def reason(self) -> Reason | None:
        return RULES[self.rule].reason

    @property
    def passed(self) -> bool:
        return RULES[self.rule].reason is None

    def as_record(self) -> CheckRecord:
        """The compact form kept in the decision event: `[rule, values]`."""
        return [self.rule, self.values]


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: Reason
    checks: tuple[Check, ...]


LIST_MODULES = (Module.FEED, Module.LISTS)

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
    if module is Module.DISK and channel == "bizproc":
        if change.trigger is Trigger.ADD:
            return Check("channel.disk_process_add", {"channel": channel})
        return Check("channel.disk_process_change", {"channel": channel})
    if channel in ("bizproc", "robot"):
        within = situation.settings.start_bp_within_bp
        values: dict[str, CheckValue] = {"channel": channel, "start_bp_within_bp": within}
        if module is Module.CRM:
            return Check("channel.within_bp" if within else "channel.inner", values)
        return Check("channel.inner", values)
    if channel == "trigger_stage_change":
        entity = change.document_type.entity
        guarded = entity in ("deal", "lead")
        return Check(
            "channel.trigger_stage" if guarded else "channel.trigger_stage_factory",
            {"channel": channel, "entity": entity},
        )
    return Check("channel.email" if channel == "email" else "channel.starts", {"channel": channel})


def _changes(change: Change, _: TemplateConfig, __: Situation) -> Check:
    if change.trigger is Trigger.ADD:
        return Check("changes.add", {})
    values = {"changed": list(change.changed)}
    if change.changed:
        return Check("changes.fields", values)
    return Check("changes.legacy_rest" if change.is_legacy_crm_rest else "changes.none", values)


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


def feature_enabled(module: Module, settings: PortalSettings) -> bool:
    """Every module needs bizproc; Feed also needs lists_processes."""
    if module is Module.FEED:
        return settings.bizproc and settings.lists_processes
    return settings.bizproc


def _feature(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    settings = situation.settings
    values: dict[str, CheckValue] = {"plan": settings.plan, "bizproc": settings.bizproc}
    module = change.document_type.module
    if module is Module.FEED:
        values["lists_processes"] = settings.lists_processes
    enabled = feature_enabled(module, settings)
    return Check("feature.on" if enabled else "feature.off", values)


def _container(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    if not change.document_type.has_container:
        return Check("container.none", {})
    enabled = situation.container_enabled
    values = {"bizproc_enabled": enabled}
    if change.is_lists_rest:
        return Check("container.rest", values)
    return Check("container.on" if enabled else "container.off", values)


def _active(change: Change, template: TemplateConfig, __: Situation) -> Check:
    values: dict[str, CheckValue] = {"active": template.active}
    if change.is_legacy_crm_rest:
        return Check("active.legacy_rest", {**values, "channel": change.channel})
    return Check("active.yes" if template.active else "active.no", values)


def _auto_execute(change: Change, template: TemplateConfig, _: Situation) -> Check:
    adding = change.trigger is Trigger.ADD
    bit = AutoExecute.CREATE if adding else AutoExecute.EDIT
    values = {"auto_execute": template.auto_execute, "bit": int(bit)}
    if template.auto_execute & bit:
        return Check("auto_execute.match", values)
    return Check("auto_execute.not_on_add" if adding else "auto_execute.not_on_change", values)


def refuses_write(change: Change, situation: Situation) -> bool:
    """Lists REST refuses the whole write when a template of the list has untuned constants.

    Bitrix checks the constants before writing (lists `Entity\\Element::getBizprocData`), only
    where business processes are on: the refusal needs the module's features.
    """
    return (
        change.is_lists_rest
        and bool(situation.list_untuned)
        and feature_enabled(change.document_type.module, situation.settings)
    )


def _untuned_list(untuned: dict[int, list[str]]) -> list[str]:
    return [
        f"template {template}: {', '.join(names)}" for template, names in sorted(untuned.items())
    ]


def _constants(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    module = change.document_type.module
    if change.is_legacy_crm_rest:
        return Check("constants.legacy_rest", {"untuned": template.untuned_constants})
    if module in LIST_MODULES:
        values = {"untuned": _untuned_list(situation.list_untuned)}
        if refuses_write(change, situation):
            return Check("constants.write_refused", values)
        untuned = bool(situation.list_untuned)
        return Check("constants.list_untuned" if untuned else "constants.list_tuned", values)
    untuned_names = template.untuned_constants
    return Check(
        "constants.untuned" if untuned_names else "constants.tuned", {"untuned": untuned_names}
    )


def _parameters(change: Change, template: TemplateConfig, _: Situation) -> Check:
    module = change.document_type.module
    if module is Module.CRM:
        return Check("parameters.crm", {})
    missing = template.unset_parameters(change.parameters)
    if module is Module.DISK:
        given, wanted = bool(change.parameters), bool(template.parameters)
        values: dict[str, CheckValue] = {"values_given": given, "template_has_parameters": wanted}
        if given != wanted:
            return Check("parameters.disk_mismatch", values)
        if not given:
            return Check("parameters.disk_match", values)
        values["missing"] = missing
        return Check("parameters.disk_required" if missing else "parameters.disk_set", values)
    if change.is_lists_rest:
        return Check("parameters.rest", {"missing": missing})
    return Check("parameters.required" if missing else "parameters.set", {"missing": missing})


def _limit(change: Change, _: TemplateConfig, situation: Situation) -> Check:
    settings = situation.settings
    values: dict[str, CheckValue] = {
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
    if settings.limit_policy == "reject":
        return Check("limit.reject", values)
    crm = change.document_type.module is Module.CRM
    return Check("limit.queue" if crm else "limit.queue_other", values)


CheckFunction = Callable[[Change, TemplateConfig, Situation], Check]

# Constants before parameters, as Bitrix's BaseTypeStarter checks them.
DECISION_ORDER: tuple[CheckFunction, ...] = (
    _channel,
    _changes,
    _rest_licence,
    _feature,
    _container,
    _active,
    _auto_execute,
    _constants,
    _parameters,
    _limit,
)

_OUTCOMES = {Reason.LIMIT_REJECTED: Outcome.REJECTED, Reason.LIMIT_QUEUED: Outcome.QUEUED}
REFUSED_WRITE = "constants.write_refused"


def decide(
    change: Change,
    template: TemplateConfig,
    situation: Situation,
    order: tuple[CheckFunction, ...] = DECISION_ORDER,
) -> Verdict:
    """The decision for one template: the first failing check's reason, with all checks shown.

    A write the portal refused is the one exception: nothing was written, so every template
    records the refusal, whatever its earlier checks say.
    """
    checks = tuple(check(change, template, situation) for check in order)
    if any(check.rule == REFUSED_WRITE for check in checks):
        return Verdict(Outcome.SKIPPED, Reason.CONSTANTS_NOT_TUNED, checks)
    for check in checks:
        reason = RULES[check.rule].reason
        if reason is not None:
            return Verdict(_OUTCOMES.get(reason, Outcome.SKIPPED), reason, checks)
    started = Reason.AUTO_ON_ADD if change.trigger is Trigger.ADD else Reason.AUTO_ON_CHANGE
    return Verdict(Outcome.STARTED, started, checks)


def list_untuned(templates: list[TemplateConfig]) -> dict[int, list[str]]:
    """The on-add or on-change templates of a list, active or not, with untuned constants."""
    return {
        t.template: t.untuned_constants
        for t in templates
        if t.auto_execute & (AutoExecute.CREATE | AutoExecute.EDIT) and t.untuned_constants
    }
