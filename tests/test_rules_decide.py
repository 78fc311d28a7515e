"""`rules.decide` on its own: one template, one change, one situation, no store and no replay."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from domain.configs import TemplateConfig
from domain.rules import Change, Situation, decide
from domain.settings import PortalSettings
from domain.vocabulary import Outcome, Reason, Trigger, document_type

DEAL = document_type("crm.deal")
LIST = document_type("lists.iblock_22")
DRIVE = document_type("disk.storage_1")


def template(**given: Any) -> TemplateConfig:
    values: dict[str, Any] = {
        "template": 11,
        "document_type": "crm.deal",
        "version": 1,
        "auto_execute": 3,
        "active": True,
        "parameters": (),
        "constants": (),
        "duration_s": 0,
        "actions": (),
        "changed_by": None,
        "changed_at": None,
    }
    return TemplateConfig(**(values | given))


def situation(running: int = 0, **settings: Any) -> Situation:
    return Situation(PortalSettings(**settings), container_enabled=True, running=running)


def add(channel: str = "ui", dt: Any = DEAL, **given: Any) -> Change:
    return Change(dt, Trigger.ADD, channel, **given)


def test_a_manual_add_of_a_matching_active_template_starts() -> None:
    verdict = decide(add(), template(), situation())

    assert (verdict.outcome, verdict.reason) == (Outcome.STARTED, Reason.AUTO_ON_ADD)
    assert all(check.passed for check in verdict.checks)


def test_a_change_with_fields_starts_on_change() -> None:
    change = Change(DEAL, Trigger.CHANGE, "ui", changed=("STAGE_ID",))

    verdict = decide(change, template(), situation())

    assert (verdict.outcome, verdict.reason) == (Outcome.STARTED, Reason.AUTO_ON_CHANGE)


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ("import", Reason.CHANNEL_IMPORT),
        ("bizproc", Reason.CHANNEL_INNER),
        ("robot", Reason.CHANNEL_INNER),
        ("robot_conversion", Reason.CHANNEL_ROBOT_CONVERSION),
        ("system", Reason.CHANNEL_SYSTEM),
    ],
)
def test_an_excluded_channel_skips_with_its_reason(channel: str, reason: Reason) -> None:
    verdict = decide(add(channel), template(), situation())

    assert (verdict.outcome, verdict.reason) == (Outcome.SKIPPED, reason)


def test_start_bp_within_bp_lets_a_process_made_crm_add_start() -> None:
    verdict = decide(add("bizproc"), template(), situation(start_bp_within_bp=True))

    assert verdict.outcome is Outcome.STARTED


def test_an_update_without_changed_fields_starts_nothing() -> None:
    change = Change(DEAL, Trigger.CHANGE, "ui")

    verdict = decide(change, template(), situation())

    assert verdict.reason is Reason.NO_CHANGES


def test_the_first_failing_check_is_the_reason_and_every_check_is_shown() -> None:
    # Inactive and missing the on-add bit: the earlier check in the SPEC's order wins.
    verdict = decide(add(), template(active=False, auto_execute=2), situation())

    assert verdict.reason is Reason.TEMPLATE_INACTIVE
    failed = [check.reason for check in verdict.checks if not check.passed]
    assert failed == [Reason.TEMPLATE_INACTIVE, Reason.NOT_ON_ADD]


def test_legacy_crm_rest_ignores_active_and_constants() -> None:
    untuned = ({"name": "K", "required": True, "value": ""},)

    verdict = decide(add("rest"), template(active=False, constants=untuned), situation())

    assert verdict.outcome is Outcome.STARTED


def test_legacy_crm_rest_on_a_free_cloud_licence_is_refused() -> None:
    verdict = decide(add("rest"), template(), situation(licence="free"))

    assert verdict.reason is Reason.REST_LICENCE


def test_an_untuned_required_constant_skips() -> None:
    untuned = ({"name": "K", "required": True, "value": None},)

    verdict = decide(add(), template(constants=untuned), situation())

    assert verdict.reason is Reason.CONSTANTS_NOT_TUNED


def test_a_full_document_queues_on_cloud_and_rejects_on_premise() -> None:
    queued = decide(add(), template(), situation(running=2))
    rejected = decide(add(), template(), situation(running=2, limit_policy="reject"))

    assert (queued.outcome, queued.reason) == (Outcome.QUEUED, Reason.LIMIT_QUEUED)
    assert (rejected.outcome, rejected.reason) == (Outcome.REJECTED, Reason.LIMIT_REJECTED)


def test_no_limit_lets_any_number_run() -> None:
    verdict = decide(add(), template(), situation(running=50, limit_simultaneous_processes=0))

    assert verdict.outcome is Outcome.STARTED


def test_a_list_without_business_processes_skips_ui_but_not_rest() -> None:
    closed = replace(situation(), container_enabled=False)
    listed = template(document_type="lists.iblock_22")

    ui = decide(add("ui", LIST), listed, closed)
    rest = decide(add("rest", LIST), listed, closed)

    assert ui.reason is Reason.CONTAINER_DISABLED
    assert rest.outcome is Outcome.STARTED


def test_a_drive_change_without_values_skips_a_template_with_parameters() -> None:
    needs = ({"name": "P", "required": False, "default": None},)
    stored = template(document_type="disk.storage_1", parameters=needs)

    verdict = decide(add("ui", DRIVE), stored, situation())

    assert verdict.reason is Reason.PARAMETERS_MISMATCH


def test_the_plan_without_business_processes_disables_the_feature() -> None:
    verdict = decide(add(), template(), situation(bizproc=False))

    assert verdict.reason is Reason.FEATURE_DISABLED


def test_deciding_twice_gives_the_same_verdict() -> None:
    change, config, now = add("web_form"), template(), situation(running=1)

    assert decide(change, config, now) == decide(change, config, now)
