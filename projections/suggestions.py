"""What would have made a decision start: the smallest `whatif --set` changes, each re-decided.

A suggestion is proven, not guessed from the reason code: the decision's change is decided again
by `rules.decide` under the configuration as it stood at that moment (from the store) with the
suggested settings forced the way `whatif --set` forces them, and kept only if it then starts.
Reasons no configuration lifts say so, with what the user could do instead and the SPEC's source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from typing import Any, cast

from domain.configs import AutoExecute, TemplateConfig, TemplateRecord, is_missing
from domain.rules import LIST_MODULES, RULES, Change, Situation, decide, list_untuned
from domain.settings import PortalSettings
from domain.vocabulary import Module, Outcome, Trigger, document_type
from projections.database import ReadDatabase
from projections.explain import TRIGGER_OF_OP
from projections.ledger import read_checks

TO_FILL = "TO_FILL"  # stands for the value the administrator chooses
MAX_SETTINGS = 3  # a suggestion changes at most this many settings
MAX_SUGGESTIONS = 3  # per decision
RESET_BY_EDITION = ("limit_simultaneous_processes", "limit_policy")

LOOP_WARNING = (
    "with start_bp_within_bp on, changes made by processes start processes: {templates} "
    "CRM documents, so a template that changes its own element loops and "
    "one that creates elements cascades, which Bitrix stops only by blocking the portal (the "
    "model stops a cascade at depth 20); replay it with --fix first"
)

# What the user can do where no configuration starts the process; the SPEC's rule is the source.
INSTEAD: dict[str, tuple[str, ...]] = {
    "channel.import": (
        "start it by hand on each imported element, or call bizproc.workflow.start for them",
        "add the elements through the form or REST (crm.item.add, crm.lead.add without "
        "IMPORT=Y) instead of an import",
    ),
    "channel.inner": (
        "start it from the process itself with a Start workflow activity, or call "
        "bizproc.workflow.start",
        "a robot on the stage instead of a template",
    ),
    "channel.disk_process_change": (
        "upload a new version of the file (a new version starts on-change templates)",
        "call bizproc.workflow.start from the process",
    ),
    "channel.robot_conversion": (
        "convert by hand, or call bizproc.workflow.start on the converted element",
    ),
    "channel.system": ("start it by hand, or call bizproc.workflow.start",),
    "channel.direct_api": (
        "write through the list's form or lists.element.add/update instead of the iblock API",
        "call bizproc.workflow.start after the write",
    ),
    "channel.trigger_stage": (
        "a robot on the stage (automation rules) instead of a template",
        "call bizproc.workflow.start, or move the stage by hand or with a robot",
    ),
    "changes.none": (
        "change at least one field in the update, or start it by hand",
        "send the update through CRM's legacy REST (crm.deal.update), which starts on-change "
        "templates whether or not a field changed",
    ),
}


@dataclass(frozen=True, slots=True)
class Configuration:
    """What a decision looked at besides its change: settings, the container, the templates."""

    portal_history: tuple[dict[str, Any], ...]  # each portal line's changes, in order
    container_enabled: bool
    templates: dict[int, TemplateConfig]  # the document type's templates as they stood
    running: int


@dataclass(frozen=True, slots=True)
class Moment:
    """One recorded decision: its change, its template, what it looked at, what it gave."""

    change: Change
    template: int
    configuration: Configuration
    outcome: str


@dataclass(frozen=True, slots=True)
class Setting:
    """One `whatif --set` key and value, with what it means in words."""

    key: str
    value: Any
    says: str

    @property
    def text(self) -> str:
        return f"{self.key}={_dump(self.value)}"


def _dump(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def settings_under(history: tuple[dict[str, Any], ...], forced: dict[str, Any]) -> PortalSettings:
    """The portal settings after `history`, with `forced` held as `whatif --set portal.*` does.

    Forced keys go into one line before the traffic, and onto every line giving them (a
    feature also onto every line giving a plan, the limit and policy onto every line giving
    an edition): the rewriting of `simulations.overrides.ChangedTraffic`.
    """
    settings = PortalSettings()
    lines = [{}, *history] if forced else list(history)
    for number, given in enumerate(lines):
        line = json.loads(json.dumps(given))
        initial = bool(forced) and number == 0
        for field, value in forced.items():
            feature = field.removeprefix("features.")
            if feature != field:
                features = line.get("features", {})
                if initial or "plan" in line or feature in features:
                    line["features"] = features | {feature: value}
            elif initial or field in line or (field in RESET_BY_EDITION and "edition" in line):
                line[field] = value
        settings = settings.changed(line)
    return settings


def decide_under(moment: Moment, settings: tuple[Setting, ...]) -> tuple[Outcome, str, Situation]:
    """The moment's decision with `settings` forced: outcome, reason and the situation."""
    configuration = moment.configuration
    portal: dict[str, Any] = {}
    container = configuration.container_enabled
    templates = dict(configuration.templates)
    for setting in settings:
        scope, _, rest = setting.key.partition(".")
        if scope == "portal":
            portal[rest] = setting.value
        elif scope == "container":
            if rest.rpartition(".")[0] == moment.change.document_type.name:
                container = bool(setting.value)
        else:
            number, _, field = rest.partition(".")
            if int(number) in templates:
                config = templates[int(number)]
                templates[int(number)] = _reconfigured(config, field, setting.value)
    dt = moment.change.document_type
    untuned = list_untuned(list(templates.values())) if dt.module in LIST_MODULES else {}
    situation = Situation(
        settings_under(configuration.portal_history, portal),
        container,
        configuration.running,
        untuned,
    )
    verdict = decide(moment.change, templates[moment.template], situation)
    return verdict.outcome, verdict.reason.value, situation


def _reconfigured(config: TemplateConfig, field: str, value: Any) -> TemplateConfig:
    """The configuration with one field forced, as `whatif --set template.N.FIELD` forces it."""
    # FIELD is a template line's key with a value checked as that key's (simulations.overrides).
    data = cast("TemplateRecord", config.as_dict() | {field: value})
    return TemplateConfig.from_dict(data)


def candidates(moment: Moment) -> list[Setting]:
    """Single settings that could lift one of the failing rules; decide() judges them."""
    change, template, configuration = moment.change, moment.template, moment.configuration
    config = configuration.templates[template]
    _, _, situation = decide_under(moment, ())
    failing = [check.rule for check in decide(change, config, situation).checks if not check.passed]
    dt = change.document_type
    pool: list[Setting] = []
    for rule in failing:
        if rule == "channel.inner" and dt.module is Module.CRM:
            pool.append(
                Setting(
                    "portal.start_bp_within_bp",
                    True,
                    "switch on start_bp_within_bp (changes made by processes start processes)",
                )
            )
        elif rule == "rest_licence.unlicensed":
            pool.append(Setting("portal.licence", "paid", "a paid licence (REST starts processes)"))
        elif rule == "feature.off":
            pool.append(Setting("portal.plan", "professional", "a plan with business processes"))
            pool.append(Setting("portal.features.bizproc", True, "switch on the bizproc feature"))
            if dt.module is Module.FEED:
                pool.append(
                    Setting(
                        "portal.features.lists_processes",
                        True,
                        "switch on the lists_processes feature",
                    )
                )
        elif rule == "container.off":
            pool.append(
                Setting(
                    f"container.{dt.name}.bizproc_enabled",
                    True,
                    f"switch on business processes for {dt.name}",
                )
            )
        elif rule == "active.no":
            pool.append(
                Setting(f"template.{template}.active", True, f"activate template {template}")
            )
        elif rule.startswith("auto_execute.not_on"):
            bit = AutoExecute.CREATE if change.trigger is Trigger.ADD else AutoExecute.EDIT
            on = "add" if bit is AutoExecute.CREATE else "change"
            pool.append(
                Setting(
                    f"template.{template}.auto_execute",
                    config.auto_execute | int(bit),
                    f"template {template} also starts on {on}",
                )
            )
        elif rule == "constants.untuned":
            pool.append(_filled_constants(config))
        elif rule in ("constants.list_untuned", "constants.write_refused"):
            for other in sorted(list_untuned(list(configuration.templates.values()))):
                pool.append(_filled_constants(configuration.templates[other]))
                if other != template:
                    pool.append(
                        Setting(
                            f"template.{other}.auto_execute",
                            0,
                            f"template {other} starts neither on add nor on change",
                        )
                    )
        elif rule in ("parameters.required", "parameters.disk_required"):
            pool.append(_filled_defaults(config, change))
        elif rule == "parameters.disk_mismatch":
            pool.append(_disk_parameters(config, change))
        elif rule in ("limit.reject", "limit.queue", "limit.queue_other"):
            raised = configuration.running + 1
            pool.append(
                Setting(
                    "portal.limit_simultaneous_processes",
                    raised,
                    f"a simultaneous limit of {raised}",
                )
            )
    if situation.settings.limit:
        # Whatever else starts on the element then cannot take this decision's slot.
        pool.append(Setting("portal.limit_simultaneous_processes", 0, "no simultaneous limit"))
    unique: dict[str, Setting] = {}
    for setting in pool:
        unique.setdefault(setting.text, setting)
    return list(unique.values())


def _filled_constants(config: TemplateConfig) -> Setting:
    constants = [
        c | {"value": TO_FILL} if c["required"] and is_missing(c.get("value")) else c
        for c in config.constants
    ]
    names = ", ".join(config.untuned_constants)
    return Setting(
        f"template.{config.template}.constants",
        constants,
        f"give template {config.template}'s required constant(s) {names} a value "
        f"({TO_FILL} stands for yours)",
    )


def _filled_defaults(config: TemplateConfig, change: Change) -> Setting:
    missing = set(config.unset_parameters(change.parameters))
    parameters = [
        p | {"default": TO_FILL} if p["name"] in missing else p for p in config.parameters
    ]
    return Setting(
        f"template.{config.template}.parameters",
        parameters,
        f"give template {config.template}'s required parameter(s) {', '.join(sorted(missing))} "
        f"a default ({TO_FILL} stands for yours)",
    )


def _disk_parameters(config: TemplateConfig, change: Change) -> Setting:
    key = f"template.{config.template}.parameters"
    if change.parameters:
        names = sorted(change.parameters)
        parameters = [{"name": name, "required": False, "default": None} for name in names]
        return Setting(
            key,
            parameters,
            f"give template {config.template} the parameter(s) the upload fills: "
            + ", ".join(names),
        )
    return Setting(key, [], f"template {config.template} without parameters")


MovedAt = Callable[[tuple[Setting, ...]], int]
Keeps = Callable[[tuple[Setting, ...]], bool]


def suggest(
    moment: Moment, index: int, moved_at: MovedAt, keeps: Keeps = lambda _: True
) -> list[tuple[Setting, ...]]:
    """The smallest sets of settings under which the decision starts, one setting before two.

    `index` is the decision's place among the element's decisions, `moved_at(chosen)` the
    place of the first of them whose outcome `chosen` changes. A set is kept only if it is
    proven (`proven`) and `keeps` it (the decisions whose processes made the change still
    decide as they did), and only if no smaller kept set is part of it.
    """
    pool = candidates(moment)
    found: list[tuple[Setting, ...]] = []
    for size in range(1, min(MAX_SETTINGS, len(pool)) + 1):
        for chosen in combinations(pool, size):
            keys = [s.key for s in chosen]
            if len(set(keys)) < len(keys):
                continue  # whatif takes one value per key
            texts = {s.text for s in chosen}
            if any({s.text for s in kept} <= texts for kept in found):
                continue
            if keeps(chosen) and proven(moment, chosen, partial(_unmoved, moved_at, chosen, index)):
                found.append(chosen)
        if len(found) >= MAX_SUGGESTIONS:
            break
    return found[:MAX_SUGGESTIONS]


def _keeps(causes: list[Moment], chosen: tuple[Setting, ...]) -> bool:
    return all(decide_under(cause, chosen)[0].value == cause.outcome for cause in causes)


def _unmoved(moved_at: MovedAt, chosen: tuple[Setting, ...], index: int) -> bool:
    return moved_at(chosen) >= index


def proven(moment: Moment, chosen: tuple[Setting, ...], unmoved: Callable[[], bool]) -> bool:
    """The decision starts under `chosen`, and nothing before it on the element moves.

    The recorded count of running instances holds only while every earlier decision on the
    same element (earlier changes, lower template ids of the same round) keeps its outcome,
    so where the limit is in play `unmoved()` must say none of them changes.
    """
    outcome, _, situation = decide_under(moment, chosen)
    if outcome is not Outcome.STARTED:
        return False
    settings = situation.settings
    bypassed = settings.edition == "on_premise" and moment.change.is_background
    if settings.limit == 0 or bypassed:
        return True
    return unmoved()


def no_configuration(failing: list[str]) -> dict[str, Any] | None:
    """The first failing rule no setting lifts, with what to do instead and its source."""
    for rule in failing:
        if rule in INSTEAD:
            spec = RULES[rule]
            return {
                "rule": rule,
                "reason": None if spec.reason is None else spec.reason.value,
                "confidence": spec.confidence,
                "source": spec.source,
                "instead": list(INSTEAD[rule]),
            }
    return None


class StoreConfigurations:
    """The configuration each decision of one element was made against, read from the store."""

    def __init__(self, db: ReadDatabase, element: str) -> None:
        self.db = db
        self.element = element
        self.document_type = document_type(element.rpartition(":")[0])
        self.portal = [
            (row["id"], json.loads(row["changes"]))
            for row in db.query(
                "SELECT id, changes FROM settings WHERE kind = 'portal' ORDER BY id"
            )
        ]
        self.containers = [
            (row["id"], bool(json.loads(row["changes"])["bizproc_enabled"]))
            for row in db.query(
                "SELECT id, changes FROM settings WHERE kind = 'container' AND subject = ? "
                "ORDER BY id",
                (self.document_type.name,),
            )
        ]
        self.templates = [
            (row["id"], TemplateConfig.from_dict(json.loads(row["config"])))
            for row in db.query(
                "SELECT id, config FROM templates WHERE document_type = ? ORDER BY id",
                (self.document_type.name,),
            )
        ]
        self.changes = {
            row["revision"]: row
            for row in db.query(
                "SELECT revision, op, channel, fields, parameters, cause FROM changes "
                "WHERE element = ? AND op <> 'delete'",
                (element,),
            )
        }
        self.decisions = db.query(
            "SELECT id, revision, template, outcome, checks FROM decisions WHERE element = ? "
            "ORDER BY id",
            (element,),
        )
        self.moments: dict[int, Moment | None] = {}
        self.moved: dict[tuple[str, ...], int] = {}
        # CRM templates whose processes change documents: start_bp_within_bp sets them going.
        self.acting = sorted(
            {
                row["template"]
                for row in db.query(
                    "SELECT template, config FROM templates WHERE document_type LIKE ?", ("crm.%",)
                )
                if json.loads(row["config"])["actions"]
            }
        )

    def moment(self, row: dict[str, Any]) -> Moment | None:
        """The decision as `decide` saw it; None when an earlier model's rule decided it."""
        if row["id"] in self.moments:
            return self.moments[row["id"]]
        checks = read_checks(row["checks"])
        moment = None
        if all(rule in RULES for rule, _ in checks):
            position = row["id"]
            running = next((v["running"] for rule, v in checks if rule.startswith("limit.")), 0)
            configuration = Configuration(
                portal_history=tuple(changes for at, changes in self.portal if at < position),
                container_enabled=_last(v for at, v in self.containers if at < position),
                templates={c.template: c for at, c in self.templates if at < position},
                running=running,
            )
            change_row = self.changes[row["revision"]]
            change = Change(
                self.document_type,
                Trigger(TRIGGER_OF_OP[change_row["op"]]),
                change_row["channel"],
                tuple(json.loads(change_row["fields"])),
                json.loads(change_row["parameters"]),
            )
            moment = Moment(change, row["template"], configuration, row["outcome"])
        self.moments[row["id"]] = moment
        return moment

    def causes(self, revision: int) -> list[Moment]:
        """The decisions whose processes made this change, its parent's first, up the chain."""
        found: list[Moment] = []
        cause = self.changes[revision]["cause"]
        while cause:
            process = self.db.query("SELECT decision FROM processes WHERE process = ?", (cause,))
            if not process:
                break
            (row,) = self.db.query(
                "SELECT id, element, revision, template, outcome, checks FROM decisions "
                "WHERE id = ?",
                (process[0]["decision"],),
            )
            other = StoreConfigurations(self.db, row["element"])
            moment = other.moment(row)
            if moment is not None:
                found.append(moment)
            cause = other.changes[row["revision"]]["cause"]
        return found

    def moved_at(self, chosen: tuple[Setting, ...]) -> int:
        """The place of the element's first decision whose outcome `chosen` changes."""
        key = tuple(sorted(s.text for s in chosen))
        if key not in self.moved:
            self.moved[key] = next(
                (
                    i
                    for i, row in enumerate(self.decisions)
                    if (m := self.moment(row)) is not None
                    and decide_under(m, chosen)[0].value != m.outcome
                ),
                len(self.decisions),
            )
        return self.moved[key]

    def fixes(self, revision: int, template: int) -> dict[str, Any] | None:
        """Suggestions and the unliftable reason for one decision; None when it started."""
        index = next(
            (
                i
                for i, row in enumerate(self.decisions)
                if (row["revision"], row["template"]) == (revision, template)
            ),
            None,
        )
        if index is None or self.decisions[index]["outcome"] == Outcome.STARTED.value:
            return None
        moment = self.moment(self.decisions[index])
        if moment is None:
            return {
                "decision_id": self.decisions[index]["id"],
                "suggestions": [],
                "no_configuration": None,
                "retired": True,
            }
        causes = self.causes(self.decisions[index]["revision"])
        found = suggest(moment, index, self.moved_at, partial(_keeps, causes))
        failing = [
            rule
            for rule, _ in read_checks(self.decisions[index]["checks"])
            if RULES[rule].reason is not None
        ]
        loops = self.acting
        return {
            "decision_id": self.decisions[index]["id"],
            "suggestions": [_suggestion(chosen, moment, loops) for chosen in found],
            "no_configuration": None if found else no_configuration(failing),
            "retired": False,
        }


def _suggestion(chosen: tuple[Setting, ...], moment: Moment, loops: list[int]) -> dict[str, Any]:
    outcome, reason, situation = decide_under(moment, chosen)
    # Within-bp on then (set by the suggestion or by the portal already): processes' changes
    # start processes, and a suggestion that starts more of them grows the cascades.
    within = situation.settings.start_bp_within_bp
    return {
        "set": [s.text for s in chosen],
        "says": [s.says for s in chosen],
        "outcome": outcome.value,
        "reason": reason,
        "warning": _loop_warning(loops) if within and loops else None,
    }


def _loop_warning(templates: list[int]) -> str:
    named = ", ".join(str(t) for t in templates)
    verb = "change or create" if len(templates) > 1 else "changes or creates"
    return LOOP_WARNING.format(
        templates=f"template{'s' if len(templates) > 1 else ''} {named} {verb}"
    )


def _last(values: Iterable[bool]) -> bool:
    """The container's last switch before the moment; one never declared is on."""
    last = True
    for value in values:
        last = bool(value)
    return last


def attach_fixes(db: ReadDatabase, explanation: dict[str, Any]) -> None:
    """Adds `fixes` to every decision of `explanation` that did not start, numbered from 1.

    The numbers run through the whole explanation, so `why --fix N` names one suggestion.
    """
    configurations = StoreConfigurations(db, explanation["element"])
    number = 0
    for change in explanation["changes"]:
        for decision in change["decisions"]:
            if decision["outcome"] == Outcome.STARTED.value:
                continue
            fixes = configurations.fixes(change["revision"], decision["template"])
            if fixes is None:
                continue
            for suggestion in fixes["suggestions"]:
                number += 1
                suggestion["number"] = number
            decision["fixes"] = fixes


def numbered(explanation: dict[str, Any], number: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The change and decision holding suggestion `number`, and that suggestion."""
    for change in explanation["changes"]:
        for decision in change["decisions"]:
            for suggestion in decision.get("fixes", {}).get("suggestions", []):
                if suggestion["number"] == number:
                    return change | {"decision": decision}, suggestion
    raise LookupError(number)


__all__ = [
    "Configuration",
    "Setting",
    "StoreConfigurations",
    "attach_fixes",
    "decide_under",
    "numbered",
    "settings_under",
    "suggest",
]


def fixes_text(fixes: dict[str, Any] | None) -> str | None:
    """One cell's worth: each suggestion's `--set`s, `|` between them; None when it started."""
    if fixes is None:
        return None
    if fixes["suggestions"]:
        return " | ".join(
            " ".join(f"--set {s}" for s in suggestion["set"]) for suggestion in fixes["suggestions"]
        )
    unliftable = fixes["no_configuration"]
    if unliftable:
        return f"no configuration starts it ({unliftable['reason']})"
    return "no suggestion (an earlier model's rule decided it)" if fixes["retired"] else ""


def fixes_column(db: ReadDatabase, where: str, params: Sequence[Any]) -> list[str | None]:
    """`fixes_text` for each decision the filter selects, in the order made."""
    elements: dict[str, StoreConfigurations] = {}
    column = []
    for row in db.query(
        f"SELECT element, revision, template FROM decisions{where} ORDER BY id", params
    ):
        element = row["element"]
        if element not in elements:
            elements[element] = StoreConfigurations(db, element)
        column.append(fixes_text(elements[element].fixes(row["revision"], row["template"])))
    return column
