"""Named faults planted in the starter, so the exclusion checker can be shown to catch them."""

from __future__ import annotations

from dataclasses import dataclass

from domain import rules
from domain.configs import TemplateConfig
from domain.rules import Change, Check, CheckFunction, Situation
from domain.vocabulary import Module, Trigger


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
    return rules.DECISION_ORDER[6](change, template, situation)


def _rest_licence_ignored(change: Change, template: TemplateConfig, situation: Situation) -> Check:
    return Check("rest_licence.ungated", {})


def _drive_parameters_ignored(
    change: Change, template: TemplateConfig, situation: Situation
) -> Check:
    if change.document_type.module is Module.DISK:
        return Check("parameters.disk_match", {})
    return rules.DECISION_ORDER[7](change, template, situation)


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    description: str
    replaces: dict[int, CheckFunction]
    reverses_queue: bool = False


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault("imports-start", "imports start processes", {0: _imports_start}),
        Fault(
            "process-changes-start",
            "process- and robot-made changes start processes",
            {0: _process_changes_start},
        ),
        Fault("inactive-templates-start", "inactive templates start", {5: _inactive_start}),
        Fault("limit-ignored", "the simultaneous limit is ignored", {9: _limit_ignored}),
        Fault("queue-reversed", "queued instances start last in, first out", {}, True),
        Fault(
            "on-change-bit-ignored",
            "templates start on change without the on-change bit",
            {6: _on_change_bit_ignored},
        ),
        Fault(
            "rest-licence-ignored",
            "legacy CRM REST starts processes on a free cloud licence",
            {2: _rest_licence_ignored},
        ),
        Fault(
            "drive-parameters-ignored",
            "Drive starts templates whatever parameters the upload gave",
            {7: _drive_parameters_ignored},
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
