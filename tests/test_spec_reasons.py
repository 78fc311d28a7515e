"""Every reason code of the SPEC, and the decision order: the first failing check is the reason."""

from __future__ import annotations

from typing import Any

import pytest
from replaying import at, decisions_of

Line = dict[str, Any]

MODULES = ["crm.deal:101", "feed.iblock_22:900", "lists.iblock_22:900", "disk.storage_1:5120"]
LISTS = ["feed.iblock_22:900", "lists.iblock_22:900"]
CONTAINERS = ["feed.iblock_22:900", "lists.iblock_22:900", "disk.storage_1:5120"]
MISSING = pytest.mark.parametrize("missing", [{}, {"value": None}, {"value": ""}],
                                  ids=["absent", "null", "empty-string"])  # fmt: skip


def _type(element: str) -> str:
    return element.split(":", maxsplit=1)[0]


def _template(element: str, template: int = 1, **config: Any) -> Line:
    """A template of the element's type that would start on add and change."""
    base = {"op": "template", "template": template, "document_type": _type(element)}
    return {**base, "auto_execute": 3, **config}


def _create(element: str, channel: str = "ui", **extra: Any) -> Line:
    return {"op": "create", "at": at(0), "element": element, "channel": channel, **extra}


def _update(element: str, channel: str = "ui", changed: Line | None = None, **extra: Any) -> Line:
    changed = {"TITLE": "renamed"} if changed is None else changed
    update = {"op": "update", "at": at(1), "element": element, "changed": changed}
    return {**update, "channel": channel, **extra}


def _portal(**settings: Any) -> Line:
    return {"op": "portal", **settings}


def _last(traffic: list[Line]) -> list[tuple[str, str, str | None]]:
    """(outcome, reason, process) of each decision the last traffic line made."""
    decisions = decisions_of(traffic)
    return [
        (d["outcome"], d["reason"], d["process"]) for d in decisions if d["line"] == len(traffic)
    ]


def _reason(traffic: list[Line]) -> tuple[str, str]:
    """(outcome, reason) of the single decision the last traffic line made."""
    ((outcome, reason, _),) = _last(traffic)
    return outcome, reason


# 1. Channel exclusions


@pytest.mark.parametrize(
    ("traffic", "reason"),
    [
        pytest.param(
            [_template("crm.lead:5"),
             {"op": "import", "at": at(0), "document_type": "crm.lead",
              "elements": ["crm.lead:5"]}],
            "CHANNEL_IMPORT", id="import"),
        pytest.param([_template("crm.deal:101"), _create("crm.deal:101", "bizproc")],
                     "CHANNEL_INNER", id="inner"),
        pytest.param([_template("crm.deal:101"), _create("crm.deal:101", "robot_conversion")],
                     "CHANNEL_ROBOT_CONVERSION", id="robot-conversion"),
        pytest.param([_template("crm.deal:101"), _create("crm.deal:101", "system")],
                     "CHANNEL_SYSTEM", id="system"),
        pytest.param([_template("lists.iblock_22:900"),
                      _create("lists.iblock_22:900", "iblock_api")],
                     "CHANNEL_DIRECT_API", id="direct-api"),
        pytest.param([_template("crm.deal:101"), _create("crm.deal:101"),
                      _update("crm.deal:101", "trigger_stage_change", {"STAGE_ID": "WON"})],
                     "TRIGGER_STAGE_CHANGE", id="trigger-stage-change"),
        pytest.param([_portal(licence="free"), _template("crm.deal:101"),
                      _create("crm.deal:101", "rest")],
                     "REST_LICENCE", id="rest-licence"),
    ],
)  # fmt: skip
def test_a_channel_exclusion_skips_the_template_without_a_process(
    traffic: list[Line], reason: str
) -> None:
    assert _last(traffic) == [("skipped", reason, None)]


@pytest.mark.parametrize("element", MODULES)
def test_an_update_that_changed_no_field_starts_nothing(element: str) -> None:
    traffic = [_template(element), _create(element), _update(element, changed={})]

    assert _reason(traffic) == ("skipped", "NO_CHANGES")


# 2-3. Features and containers


@pytest.mark.parametrize("element", MODULES)
@pytest.mark.parametrize("plan", ["free", "basic"])
def test_plans_without_business_processes_start_nothing_in_any_module(
    plan: str, element: str
) -> None:
    traffic = [_portal(plan=plan), _template(element), _create(element)]

    assert _reason(traffic) == ("skipped", "FEATURE_DISABLED")


@pytest.mark.parametrize("element", MODULES)
def test_every_module_needs_the_bizproc_feature(element: str) -> None:
    traffic = [_portal(features={"bizproc": False}), _template(element), _create(element)]

    assert _reason(traffic) == ("skipped", "FEATURE_DISABLED")


def test_feed_also_needs_the_lists_processes_feature() -> None:
    element = "feed.iblock_22:900"
    traffic = [_portal(features={"lists_processes": False}), _template(element), _create(element)]

    assert _reason(traffic) == ("skipped", "FEATURE_DISABLED")


@pytest.mark.parametrize("element", ["crm.deal:101", "lists.iblock_22:900", "disk.storage_1:5120"])
def test_only_feed_needs_the_lists_processes_feature(element: str) -> None:
    traffic = [_portal(features={"lists_processes": False}), _template(element), _create(element)]

    assert _reason(traffic) == ("started", "AUTO_ON_ADD")


@pytest.mark.parametrize("element", CONTAINERS)
def test_a_list_or_storage_without_business_processes_starts_nothing(element: str) -> None:
    switched_off = {"op": "container", "document_type": _type(element), "bizproc_enabled": False}
    traffic = [switched_off, _template(element), _create(element)]

    assert _reason(traffic) == ("skipped", "CONTAINER_DISABLED")


def test_a_feed_list_switch_does_not_reach_the_workgroup_list_of_the_same_number() -> None:
    feed_off = {"op": "container", "document_type": "feed.iblock_22", "bizproc_enabled": False}
    element = "lists.iblock_22:900"
    traffic = [feed_off, _template(element), _create(element)]

    assert _reason(traffic) == ("started", "AUTO_ON_ADD")


# 4-5. The template itself


def test_an_inactive_template_starts_nothing() -> None:
    traffic = [_template("crm.deal:101", active=False), _create("crm.deal:101")]

    assert _reason(traffic) == ("skipped", "TEMPLATE_INACTIVE")


@pytest.mark.parametrize("auto_execute", [0, 2])
def test_a_template_without_the_add_bit_does_not_start_on_add(auto_execute: int) -> None:
    traffic = [_template("crm.deal:101", auto_execute=auto_execute), _create("crm.deal:101")]

    assert _reason(traffic) == ("skipped", "NOT_ON_ADD")


@pytest.mark.parametrize("auto_execute", [0, 1])
def test_a_template_without_the_change_bit_does_not_start_on_change(auto_execute: int) -> None:
    element = "crm.deal:101"
    traffic = [_template(element, auto_execute=auto_execute), _create(element), _update(element)]

    assert _reason(traffic) == ("skipped", "NOT_ON_CHANGE")


# 6. Parameters

WITH_PARAMETER = [{"name": "Reviewer", "required": False}]
DRIVE_MISMATCHES = [
    pytest.param(WITH_PARAMETER, {}, id="template-with-parameters-no-values"),
    pytest.param([], {"Reviewer": "user_2"}, id="template-without-parameters-values"),
]


@pytest.mark.parametrize("on_change", [False, True], ids=["add", "change"])
@pytest.mark.parametrize(("parameters", "values"), DRIVE_MISMATCHES)
def test_drive_starts_only_templates_whose_parameters_match_the_values_given(
    parameters: list[Line], values: Line, on_change: bool
) -> None:
    element = "disk.storage_1:5120"
    traffic = [_template(element, parameters=parameters), _create(element, parameters=values)]
    if on_change:
        traffic = [traffic[0], _create(element), _update(element, parameters=values)]

    assert _reason(traffic) == ("skipped", "PARAMETERS_MISMATCH")


def test_an_empty_parameters_object_counts_as_no_values_on_drive() -> None:
    element = "disk.storage_1:5120"
    traffic = [_template(element), _create(element, parameters={})]

    assert _reason(traffic) == ("started", "AUTO_ON_ADD")


def test_drive_requires_parameters_only_when_the_line_carries_values() -> None:
    element = "disk.storage_1:5120"
    required = [{"name": "Reviewer", "required": True}]
    traffic = [_template(element, parameters=required), _create(element, parameters={"Due": "1"})]

    assert _reason(traffic) == ("skipped", "PARAMETER_REQUIRED")


@pytest.mark.parametrize("given", [{}, {"Reason": None}, {"Reason": ""}],
                         ids=["absent", "null", "empty-string"])  # fmt: skip
@pytest.mark.parametrize("element", LISTS)
def test_a_required_list_parameter_without_a_value_or_default_starts_nothing(
    element: str, given: Line
) -> None:
    required = [{"name": "Reason", "required": True, "default": None}]
    traffic = [_template(element, parameters=required), _create(element, parameters=given)]

    assert _reason(traffic) == ("skipped", "PARAMETER_REQUIRED")


def test_an_empty_string_default_does_not_satisfy_a_required_parameter() -> None:
    element = "feed.iblock_22:900"
    required = [{"name": "Reason", "required": True, "default": ""}]
    traffic = [_template(element, parameters=required), _create(element), _update(element)]

    assert _reason(traffic) == ("skipped", "PARAMETER_REQUIRED")


@pytest.mark.parametrize(
    ("default", "given"),
    [("Conference", {}), (None, {"Reason": "Conference"})],
    ids=["default", "value"],
)
@pytest.mark.parametrize("element", LISTS)
def test_a_value_or_a_default_satisfies_a_required_list_parameter(
    element: str, default: str | None, given: Line
) -> None:
    required = [{"name": "Reason", "required": True, "default": default}]
    traffic = [_template(element, parameters=required), _create(element, parameters=given)]

    assert _reason(traffic) == ("started", "AUTO_ON_ADD")


def test_crm_never_validates_parameters() -> None:
    required = [{"name": "Amount", "required": True, "default": None}]
    traffic = [_template("crm.deal:101", parameters=required), _create("crm.deal:101")]

    assert _reason(traffic) == ("started", "AUTO_ON_ADD")


# 7. Constants


@MISSING
@pytest.mark.parametrize("element", MODULES)
def test_a_required_constant_without_a_value_starts_nothing_in_every_module(
    element: str, missing: Line
) -> None:
    constants = [{"name": "Approver", "required": True, **missing}]
    traffic = [_template(element, constants=constants), _create(element)]

    assert _reason(traffic) == ("skipped", "CONSTANTS_NOT_TUNED")


@pytest.mark.parametrize(
    "constant",
    [{"name": "Approver", "required": True, "value": "user_1"}, {"name": "Approver"}],
    ids=["tuned", "optional"],
)
def test_a_tuned_or_optional_constant_lets_the_template_start(constant: Line) -> None:
    traffic = [_template("crm.deal:101", constants=[constant]), _create("crm.deal:101")]

    assert _reason(traffic) == ("started", "AUTO_ON_ADD")


# 8-9. The limit, and starting


def test_at_the_limit_the_reject_policy_rejects_without_a_process() -> None:
    element = "crm.deal:101"
    portal = _portal(edition="on_premise", limit_simultaneous_processes=1)
    traffic = [portal, _template(element, duration=60), _template(element, 2), _create(element)]

    assert _last(traffic) == [
        ("started", "AUTO_ON_ADD", "crm.deal:101#1"),
        ("rejected", "LIMIT_REJECTED", None),
    ]


def test_at_the_limit_the_queue_policy_queues_with_a_process() -> None:
    element = "crm.deal:101"
    templates = [_template(element, t, duration=60) for t in (1, 2, 3)]

    decisions = _last([*templates, _create(element)])

    assert decisions == [
        ("started", "AUTO_ON_ADD", "crm.deal:101#1"),
        ("started", "AUTO_ON_ADD", "crm.deal:101#2"),
        ("queued", "LIMIT_QUEUED", "crm.deal:101#3"),
    ]


def test_a_template_that_passes_every_check_starts_on_add_and_on_change() -> None:
    element = "crm.deal:101"

    decisions = decisions_of([_template(element), _create(element), _update(element)])

    assert [(d["trigger"], d["outcome"], d["reason"]) for d in decisions] == [
        ("add", "started", "AUTO_ON_ADD"),
        ("change", "started", "AUTO_ON_CHANGE"),
    ]
    assert all(d["process"] is not None for d in decisions)


# The decision order

DEAL = "crm.deal:101"
QUOTE = "crm.quote:4"
FEED = "feed.iblock_22:900"
DRIVE = "disk.storage_1:5120"
FEED_OFF = {"op": "container", "document_type": "feed.iblock_22", "bizproc_enabled": False}
UNTUNED = [{"name": "Approver", "required": True}]
REQUIRED = [{"name": "Reason", "required": True}]


@pytest.mark.parametrize(
    ("traffic", "reason"),
    [
        pytest.param([_template("crm.lead:5", active=False),
                      {"op": "import", "at": at(0), "document_type": "crm.lead",
                       "elements": ["crm.lead:5"]}],
                     "CHANNEL_IMPORT", id="import-before-inactive"),
        pytest.param([_portal(plan="free"), _template(DEAL), _create(DEAL, "import")],
                     "CHANNEL_IMPORT", id="import-before-feature"),
        pytest.param([_template(DEAL), _create(DEAL),
                      _update(DEAL, "trigger_stage_change", {})],
                     "TRIGGER_STAGE_CHANGE", id="trigger-stage-before-no-changes"),
        pytest.param([_portal(licence="free"), _template(QUOTE), _create(QUOTE),
                      _update(QUOTE, "rest", {})],
                     "NO_CHANGES", id="no-changes-before-rest-licence"),
        pytest.param([_portal(licence="free"), _template(DEAL), _create(DEAL),
                      _update(DEAL, "rest", {})],
                     "REST_LICENCE", id="legacy-rest-skips-no-changes-not-the-licence"),
        pytest.param([_portal(licence="free", plan="free"), _template(DEAL),
                      _create(DEAL, "rest")],
                     "REST_LICENCE", id="rest-licence-before-feature"),
        pytest.param([_portal(plan="free"), FEED_OFF, _template(FEED), _create(FEED)],
                     "FEATURE_DISABLED", id="feature-before-container"),
        pytest.param([_portal(plan="basic"), _template(DEAL, active=False), _create(DEAL)],
                     "FEATURE_DISABLED", id="feature-before-inactive"),
        pytest.param([FEED_OFF, _template(FEED, active=False), _create(FEED)],
                     "CONTAINER_DISABLED", id="container-before-inactive"),
        pytest.param([_template(DEAL, active=False, auto_execute=2), _create(DEAL)],
                     "TEMPLATE_INACTIVE", id="inactive-before-not-on-add"),
        pytest.param([_template(FEED, auto_execute=2, parameters=REQUIRED), _create(FEED)],
                     "NOT_ON_ADD", id="not-on-add-before-parameter-required"),
        pytest.param([_template(DRIVE, auto_execute=1), _create(DRIVE),
                      _update(DRIVE, parameters={"Reviewer": "user_2"})],
                     "NOT_ON_CHANGE", id="not-on-change-before-parameters-mismatch"),
        pytest.param([_template(DRIVE, constants=UNTUNED), _create(DRIVE, parameters={"X": 1})],
                     "CONSTANTS_NOT_TUNED", id="constants-before-parameters-mismatch"),
        pytest.param([_template(FEED, parameters=REQUIRED, constants=UNTUNED), _create(FEED)],
                     "CONSTANTS_NOT_TUNED", id="constants-before-parameter-required"),
        pytest.param([_template(DRIVE, parameters=REQUIRED), _create(DRIVE, parameters={"X": 1})],
                     "PARAMETER_REQUIRED", id="drive-parameter-required-before-limit"),
        pytest.param([_template(DEAL, 1, duration=60), _template(DEAL, 2, duration=60),
                      _template(DEAL, 3, constants=UNTUNED), _create(DEAL)],
                     "CONSTANTS_NOT_TUNED", id="constants-before-limit"),
    ],
)  # fmt: skip
def test_the_first_failing_check_in_the_spec_order_is_the_reason(
    traffic: list[Line], reason: str
) -> None:
    decisions = _last(traffic)

    assert decisions[-1] == ("skipped", reason, None)


def test_a_document_type_without_templates_makes_no_decision() -> None:
    traffic = [
        _template("crm.lead:5"),
        _template("feed.iblock_22:900", 2),
        _create("crm.deal:101"),
        _update("crm.deal:101"),
        _create("lists.iblock_22:900") | {"at": at(2)},
    ]

    assert decisions_of(traffic) == []


def test_every_template_of_the_type_gets_exactly_one_decision() -> None:
    traffic = [
        _template(DEAL, 1),
        _template(DEAL, 2, active=False),
        _template("crm.lead:5", 3),
        _create(DEAL),
    ]

    decisions = decisions_of(traffic)

    assert [(d["template"], d["reason"]) for d in decisions] == [
        (1, "AUTO_ON_ADD"),
        (2, "TEMPLATE_INACTIVE"),
    ]
