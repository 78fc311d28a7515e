"""The exclusion checker: the SPEC's laws stated directly on the ledger, never via the rules.

Settings and template versions are few (one row per set-up line) and are held in memory to
answer "what was in force at event X"; everything else is streamed in ledger order, keeping at
most one element's state while walking rows grouped by element.
"""

from __future__ import annotations

from projections.database import ReadDatabase
from simulations.checker.cascades import (
    cascades_end_within_the_bound,
    process_made_decisions_have_a_causing_process,
)
from simulations.checker.channels import (
    a_file_a_process_creates_is_decided_like_an_upload,
    a_robot_change_is_a_process_made_change,
    legacy_rest_checks_neither_active_nor_constants_nor_changes,
    no_process_starts_from_a_process_made_change,
    no_process_starts_from_an_empty_update,
    no_process_starts_from_an_excluded_channel,
    no_process_starts_from_an_import,
    no_process_starts_from_unlicensed_legacy_rest,
)
from simulations.checker.decisions import (
    every_change_gets_one_decision_per_template,
    every_decision_uses_the_template_version_in_force,
)
from simulations.checker.limits import (
    every_queued_instance_is_started_or_accounted_for,
    never_more_running_than_the_limit,
    nothing_runs_or_waits_on_a_deleted_document,
    queued_instances_start_first_in_first_out,
)
from simulations.checker.spec import Law, Violation
from simulations.checker.templates import (
    constants_are_checked_before_parameters,
    lists_rest_ignores_the_switch_and_the_parameters,
    lists_rest_writes_are_refused_exactly_when_the_list_is_untuned,
    no_inactive_template_starts,
    no_list_process_starts_while_its_list_has_untuned_constants,
    no_process_starts_with_business_processes_off,
    no_process_starts_with_untuned_constants,
    starts_follow_the_parameters_rule,
    templates_start_only_on_their_trigger_bit,
)

__all__ = [
    "LAWS",
    "Law",
    "Violation",
    "a_file_a_process_creates_is_decided_like_an_upload",
    "a_robot_change_is_a_process_made_change",
    "cascades_end_within_the_bound",
    "check_store",
    "constants_are_checked_before_parameters",
    "every_change_gets_one_decision_per_template",
    "every_decision_uses_the_template_version_in_force",
    "every_queued_instance_is_started_or_accounted_for",
    "legacy_rest_checks_neither_active_nor_constants_nor_changes",
    "lists_rest_ignores_the_switch_and_the_parameters",
    "lists_rest_writes_are_refused_exactly_when_the_list_is_untuned",
    "never_more_running_than_the_limit",
    "no_inactive_template_starts",
    "no_list_process_starts_while_its_list_has_untuned_constants",
    "no_process_starts_from_a_process_made_change",
    "no_process_starts_from_an_empty_update",
    "no_process_starts_from_an_excluded_channel",
    "no_process_starts_from_an_import",
    "no_process_starts_from_unlicensed_legacy_rest",
    "no_process_starts_with_business_processes_off",
    "no_process_starts_with_untuned_constants",
    "nothing_runs_or_waits_on_a_deleted_document",
    "process_made_decisions_have_a_causing_process",
    "queued_instances_start_first_in_first_out",
    "starts_follow_the_parameters_rule",
    "templates_start_only_on_their_trigger_bit",
]

LAWS: tuple[Law, ...] = (
    no_process_starts_from_an_import,
    no_process_starts_from_an_excluded_channel,
    no_process_starts_from_a_process_made_change,
    no_process_starts_from_unlicensed_legacy_rest,
    no_process_starts_from_an_empty_update,
    a_robot_change_is_a_process_made_change,
    legacy_rest_checks_neither_active_nor_constants_nor_changes,
    a_file_a_process_creates_is_decided_like_an_upload,
    every_change_gets_one_decision_per_template,
    every_decision_uses_the_template_version_in_force,
    no_inactive_template_starts,
    templates_start_only_on_their_trigger_bit,
    no_process_starts_with_business_processes_off,
    no_process_starts_with_untuned_constants,
    no_list_process_starts_while_its_list_has_untuned_constants,
    lists_rest_writes_are_refused_exactly_when_the_list_is_untuned,
    lists_rest_ignores_the_switch_and_the_parameters,
    starts_follow_the_parameters_rule,
    constants_are_checked_before_parameters,
    never_more_running_than_the_limit,
    queued_instances_start_first_in_first_out,
    every_queued_instance_is_started_or_accounted_for,
    nothing_runs_or_waits_on_a_deleted_document,
    cascades_end_within_the_bound,
    process_made_decisions_have_a_causing_process,
)


def check_store(db: ReadDatabase, *, max_depth: int = 20) -> list[Violation]:
    """Every violation of every law, law by law, in ledger order."""
    return [violation for law in LAWS for violation in law(db, max_depth)]
