"""Named faults planted in the starter, so the exclusion checker can be shown to catch them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain import rules
from domain.configs import TemplateConfig
from domain.rules import Change, Check, CheckFunction, Situation
from domain.vocabulary import Module, Trigger

CHANNEL, CHANGES, ACTIVE, AUTO_EXECUTE, CONSTANTS, PARAMETERS, LIMIT = 0, 1, 5, 6, 7, 8, 9
CONTAINER = 4


def _imports_start(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    if change.channel == "import":
        return Check("channel.starts", {"channel": change.channel})
    return rules.DECISION_ORDER[0](change, template, situation)


def _process_changes_start(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    if change.channel in ("bizproc", "robot"):
        return Check("channel.starts", {"channel": change.channel})
    return rules.DECISION_ORDER[0](change, template, situation)


def _inactive_start(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    return Check("active.yes", {"active": template.active})


def _limit_ignored(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    return Check("limit.unlimited", {"running": situation.running})


def _on_change_bit_ignored(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    if change.trigger is Trigger.CHANGE:
        return Check("auto_execute.match", {"auto_execute": template.auto_execute, "bit": 2})
    return rules.DECISION_ORDER[AUTO_EXECUTE](change, template, situation)


def _rest_licence_ignored(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    return Check("rest_licence.ungated", {})


def _drive_parameters_ignored(
    change: Change, template: TemplateConfig, situation: Situation
) -> Check:
    if change.document_type.module is Module.DISK:
        return Check("parameters.disk_match", {})
    return rules.DECISION_ORDER[PARAMETERS](change, template, situation)


# The rules as they were before the SPEC was checked against Bitrix's source, one per change.


def _robot_stage_moves_excluded(
    change: Change, template: TemplateConfig, situation: Situation
) -> Check:
    """Old: a robot moving a deal's or lead's stage was `robot_stage_change`, always skipped."""
    moves_stage = {"STAGE_ID", "STATUS_ID"} & set(change.changed)
    if change.channel == "robot" and moves_stage and change.document_type.entity in STAGED:
        return Check("channel.trigger_stage", {"channel": change.channel})
    return rules.DECISION_ORDER[CHANNEL](change, template, situation)


def _plain(change: Change) -> Change:
    """The change as if it came through any channel but CRM's legacy REST."""
    return replace(change, channel="rest_item") if change.is_legacy_crm_rest else change


def _legacy_rest_changes(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    return rules.DECISION_ORDER[CHANGES](_plain(change), template, situation)


def _legacy_rest_active(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    return rules.DECISION_ORDER[ACTIVE](_plain(change), template, situation)


def _legacy_rest_constants(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    return rules.DECISION_ORDER[CONSTANTS](_plain(change), template, situation)


def _every_mail_and_open_line_in_background(
    change: Change, template: TemplateConfig, situation: Situation
) -> Check:
    """Old: e-mail and open-line adds were background starts, free of the on-premise limit."""
    if situation.settings.edition == "on_premise" and change.channel in ("email", "open_line"):
        return Check("limit.background", {"channel": change.channel, "running": situation.running})
    return rules.DECISION_ORDER[LIMIT](change, template, situation)


def _process_files_inner(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    """Old: a file a process created was a process-made change, CHANNEL_INNER."""
    if change.document_type.module is Module.DISK and change.channel == "bizproc":
        return Check("channel.disk_process_change", {"channel": change.channel})
    return rules.DECISION_ORDER[CHANNEL](change, template, situation)


def _lists_rest_container(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    """Old: lists REST looked at the list's business-process switch."""
    if change.is_lists_rest:
        enabled = situation.container_enabled
        return Check("container.on" if enabled else "container.off", {"bizproc_enabled": enabled})
    return rules.DECISION_ORDER[CONTAINER](change, template, situation)


def _lists_rest_parameters(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    """Old: lists REST refused to start a template with a required parameter missing."""
    if change.is_lists_rest:
        missing = template.unset_parameters(change.parameters)
        return Check("parameters.required" if missing else "parameters.set", {"missing": missing})
    return rules.DECISION_ORDER[PARAMETERS](change, template, situation)


def _own_constants(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    """Old: a Feed or list template looked at its own constants only."""
    if change.document_type.module in rules.LIST_MODULES:
        untuned = template.untuned_constants
        return Check("constants.untuned" if untuned else "constants.tuned", {"untuned": untuned})
    return rules.DECISION_ORDER[CONSTANTS](change, template, situation)


STAGED = ("deal", "lead")


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    description: str
    replaces: dict[int, CheckFunction]
    reverses_queue: bool = False
    # The old rules had no list-wide constants check, so no refused write either.
    per_template_constants: bool = False


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault("imports-start", "imports start processes", {0: _imports_start}),
        Fault(
            "process-changes-start",
            "process- and robot-made changes start processes",
            {0: _process_changes_start},
        ),
        Fault("inactive-templates-start", "inactive templates start", {ACTIVE: _inactive_start}),
        Fault("limit-ignored", "the simultaneous limit is ignored", {LIMIT: _limit_ignored}),
        Fault("queue-reversed", "queued instances start last in, first out", {}, True),
        Fault(
            "on-change-bit-ignored",
            "templates start on change without the on-change bit",
            {AUTO_EXECUTE: _on_change_bit_ignored},
        ),
        Fault(
            "rest-licence-ignored",
            "legacy CRM REST starts processes on a free cloud licence",
            {2: _rest_licence_ignored},
        ),
        Fault(
            "drive-parameters-ignored",
            "Drive starts templates whatever parameters the upload gave",
            {PARAMETERS: _drive_parameters_ignored},
        ),
        Fault(
            "robot-stage-moves-excluded",
            "old rule: a robot moving a deal's or lead's stage is skipped as a trigger's move",
            {CHANNEL: _robot_stage_moves_excluded},
        ),
        Fault(
            "legacy-rest-checks-everything",
            "old rule: CRM legacy REST checks active, constants and changed fields",
            {
                CHANGES: _legacy_rest_changes,
                ACTIVE: _legacy_rest_active,
                CONSTANTS: _legacy_rest_constants,
            },
        ),
        Fault(
            "mail-and-open-line-adds-in-background",
            "old rule: on-premise e-mail and open-line adds bypass the limit",
            {LIMIT: _every_mail_and_open_line_in_background},
        ),
        Fault(
            "process-files-inner",
            "old rule: a file a process creates in Drive starts nothing",
            {CHANNEL: _process_files_inner},
        ),
        Fault(
            "lists-rest-checks-switch-and-parameters",
            "old rule: lists REST looks at the list's switch and required parameters",
            {CONTAINER: _lists_rest_container, PARAMETERS: _lists_rest_parameters},
        ),
        Fault(
            "constants-per-template",
            "old rule: a Feed or list template looks at its own constants only, no write refused",
            {CONSTANTS: _own_constants},
            per_template_constants=True,
        ),
    )
}


def decision_order(faults: frozenset[str]) -> tuple[CheckFunction, ...]:
    """The SPEC's decision order with the named faults' checks swapped in."""
    order = list(rules.DECISION_ORDER)
    for name in sorted(faults):
        for index, check in FAULTS[name].replaces.items():
            order[index] = check
    return tuple(order)


def reverses_queue(faults: frozenset[str]) -> bool:
    return any(FAULTS[name].reverses_queue for name in faults)


def per_template_constants(faults: frozenset[str]) -> bool:
    return any(FAULTS[name].per_template_constants for name in faults)
