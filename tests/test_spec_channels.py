"""The SPEC's channel table, row by row: which channels can auto-start, on add and change."""

from __future__ import annotations

from typing import Any

import pytest
from replaying import at, decisions_of

from simulations.traffic import BadLineError

Line = dict[str, Any]

TRIGGERS = ("add", "change")
STARTED = {"add": ("started", "AUTO_ON_ADD"), "change": ("started", "AUTO_ON_CHANGE")}
WITHIN_BP_ON: Line = {"op": "portal", "start_bp_within_bp": True}


def _verdict(element: str, channel: str, trigger: str, *settings: Line) -> tuple[str, str]:
    """(outcome, reason) for the one template that would otherwise start (auto_execute 3, active).

    A change is made to an element created through `ui` a minute before.
    """
    document_type = element.split(":", maxsplit=1)[0]
    template = {"op": "template", "template": 1, "document_type": document_type}
    traffic: list[Line] = [*settings, {**template, "auto_execute": 3, "active": True}]
    if trigger == "add":
        traffic.append({"op": "create", "at": at(0), "element": element, "channel": channel})
    else:
        traffic.append({"op": "create", "at": at(0), "element": element, "channel": "ui"})
        changed = {"TITLE": "renamed"}
        update = {"op": "update", "at": at(1), "element": element, "changed": changed}
        traffic.append({**update, "channel": channel})

    decisions = [d for d in decisions_of(traffic) if d["line"] == len(traffic)]

    assert [(d["element"], d["trigger"], d["channel"]) for d in decisions] == [
        (element, trigger, channel)
    ]
    return decisions[0]["outcome"], decisions[0]["reason"]


# CRM


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize(
    "channel", ["ui", "lead_conversion", "recurring", "eshop_sync", "rest_item"]
)
def test_crm_channels_whose_callers_run_the_starter_start_a_process(
    channel: str, trigger: str
) -> None:
    assert _verdict("crm.deal:101", channel, trigger) == STARTED[trigger]


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("channel", ["open_line", "email", "call", "web_form"])
def test_crm_background_channels_start_a_process(channel: str, trigger: str) -> None:
    assert _verdict("crm.lead:7", channel, trigger) == STARTED[trigger]


@pytest.mark.parametrize(
    ("channel", "setting"),
    [("email", "email_integration"), ("call", "telephony")],
    ids=["email-without-email-integration", "call-without-telephony"],
)
def test_email_and_call_cannot_arrive_without_their_integration(channel: str, setting: str) -> None:
    switched_off: Line = {"op": "portal", setting: False}

    with pytest.raises(BadLineError, match="channel"):
        _verdict("crm.lead:7", channel, "add", switched_off)


def test_a_web_form_matched_to_a_duplicate_is_a_change_of_that_element() -> None:
    traffic: list[Line] = [
        {"op": "template", "template": 1, "document_type": "crm.contact", "auto_execute": 3},
        {"op": "create", "at": at(0), "element": "crm.contact:5", "channel": "web_form"},
        {"op": "update", "at": at(9), "element": "crm.contact:5", "channel": "web_form",
         "changed": {"PHONE": "+33 1 23 45 67 89"}},
    ]  # fmt: skip

    decisions = decisions_of(traffic)

    assert [(d["line"], d["trigger"], d["reason"]) for d in decisions] == [
        (2, "add", "AUTO_ON_ADD"),
        (3, "change", "AUTO_ON_CHANGE"),
    ]


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("licence", ["paid", "nfr", "demo"])
def test_legacy_rest_on_cloud_starts_with_a_paid_nfr_or_demo_licence(
    licence: str, trigger: str
) -> None:
    portal: Line = {"op": "portal", "edition": "cloud", "licence": licence}

    assert _verdict("crm.company:3", "rest", trigger, portal) == STARTED[trigger]


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_legacy_rest_on_cloud_with_a_free_licence_starts_nothing(trigger: str) -> None:
    portal: Line = {"op": "portal", "edition": "cloud", "licence": "free"}

    assert _verdict("crm.deal:101", "rest", trigger, portal) == ("skipped", "REST_LICENCE")


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_crm_item_rest_is_not_gated_by_the_licence(trigger: str) -> None:
    portal: Line = {"op": "portal", "edition": "cloud", "licence": "free"}

    assert _verdict("crm.deal:101", "rest_item", trigger, portal) == STARTED[trigger]


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_legacy_rest_on_premise_is_not_gated_by_the_licence(trigger: str) -> None:
    portal: Line = {"op": "portal", "edition": "on_premise", "licence": "free"}

    assert _verdict("crm.deal:101", "rest", trigger, portal) == STARTED[trigger]


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize(
    "element", ["feed.iblock_22:900", "lists.iblock_22:900", "disk.storage_1:5120"]
)
def test_the_licence_gate_is_for_crm_legacy_rest_only(element: str, trigger: str) -> None:
    portal: Line = {"op": "portal", "edition": "cloud", "licence": "free"}

    assert _verdict(element, "rest", trigger, portal) == STARTED[trigger]


@pytest.mark.parametrize("document_type", ["crm.lead", "feed.iblock_22", "lists.iblock_22"])
def test_an_import_batch_never_starts_a_process(document_type: str) -> None:
    elements = [f"{document_type}:5", f"{document_type}:6"]
    traffic: list[Line] = [
        {"op": "template", "template": 21, "document_type": document_type, "auto_execute": 3},
        {"op": "import", "at": at(0), "document_type": document_type, "file": "batch.csv",
         "elements": elements},
    ]  # fmt: skip

    decisions = decisions_of(traffic)

    assert [(d["element"], d["trigger"], d["channel"]) for d in decisions] == [
        (element, "add", "import") for element in elements
    ]
    assert {(d["outcome"], d["reason"], d["process"]) for d in decisions} == {
        ("skipped", "CHANNEL_IMPORT", None)
    }


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("element", ["crm.lead:5", "feed.iblock_22:900", "lists.iblock_22:900"])
def test_a_create_or_a_merged_duplicate_through_import_never_starts_a_process(
    element: str, trigger: str
) -> None:
    assert _verdict(element, "import", trigger) == ("skipped", "CHANNEL_IMPORT")


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("channel", ["bizproc", "robot"])
def test_process_made_crm_changes_start_nothing_by_default(channel: str, trigger: str) -> None:
    assert _verdict("crm.deal:101", channel, trigger) == ("skipped", "CHANNEL_INNER")


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("channel", ["bizproc", "robot"])
def test_start_bp_within_bp_lets_process_made_crm_changes_start(channel: str, trigger: str) -> None:
    assert _verdict("crm.deal:101", channel, trigger, WITHIN_BP_ON) == STARTED[trigger]


@pytest.mark.parametrize("within_bp", [False, True], ids=["within-bp-off", "within-bp-on"])
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize(
    "element", ["feed.iblock_22:900", "lists.iblock_22:900", "disk.storage_1:5120"]
)
def test_process_made_changes_outside_crm_never_start_whatever_start_bp_within_bp(
    element: str, trigger: str, within_bp: bool
) -> None:
    portal: Line = {"op": "portal", "start_bp_within_bp": within_bp}
    # A file a process creates is a first version: Drive decides it like an upload.
    expected = STARTED["add"] if (element, trigger) == ("disk.storage_1:5120", "add") else (
        "skipped", "CHANNEL_INNER")  # fmt: skip

    assert _verdict(element, "bizproc", trigger, portal) == expected


@pytest.mark.parametrize("element", ["crm.deal:101", "crm.contact:5", "crm.company:3"])
def test_an_element_made_by_a_robot_conversion_starts_nothing(element: str) -> None:
    assert _verdict(element, "robot_conversion", "add") == (
        "skipped",
        "CHANNEL_ROBOT_CONVERSION",
    )


@pytest.mark.parametrize("within_bp", [False, True], ids=["within-bp-off", "within-bp-on"])
@pytest.mark.parametrize("element", ["crm.deal:101", "crm.lead:7"])
def test_a_trigger_moving_a_deal_or_lead_stage_starts_nothing(
    element: str, within_bp: bool
) -> None:
    portal: Line = {"op": "portal", "start_bp_within_bp": within_bp}

    assert _verdict(element, "trigger_stage_change", "change", portal) == (
        "skipped",
        "TRIGGER_STAGE_CHANGE",
    )


@pytest.mark.parametrize("element", ["crm.quote:4", "crm.smart_invoice:8", "crm.dynamic_128:2"])
def test_a_trigger_moving_a_factory_item_stage_starts_a_process(element: str) -> None:
    assert _verdict(element, "trigger_stage_change", "change") == STARTED["change"]


@pytest.mark.parametrize(
    ("element", "trigger"),
    [("crm.contact:5", "change"), ("crm.company:3", "change"), ("crm.deal:101", "add")],
    ids=["contact-has-no-stages", "company-has-no-stages", "no-stage-change-on-add"],
)
def test_trigger_stage_change_where_the_table_has_a_dash_is_bad_input(
    element: str, trigger: str
) -> None:
    with pytest.raises(BadLineError, match="channel"):
        _verdict(element, "trigger_stage_change", trigger)


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_system_bookkeeping_starts_nothing(trigger: str) -> None:
    assert _verdict("crm.deal:101", "system", trigger) == ("skipped", "CHANNEL_SYSTEM")


# Feed and workgroup lists


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("channel", ["ui", "feed", "rest"])
@pytest.mark.parametrize("element", ["feed.iblock_22:900", "lists.iblock_22:900"])
def test_list_elements_written_through_the_lists_module_start_a_process(
    element: str, channel: str, trigger: str
) -> None:
    assert _verdict(element, channel, trigger) == STARTED[trigger]


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("element", ["feed.iblock_22:900", "lists.iblock_22:900"])
def test_direct_iblock_writes_start_nothing(element: str, trigger: str) -> None:
    assert _verdict(element, "iblock_api", trigger) == ("skipped", "CHANNEL_DIRECT_API")


# Drive


@pytest.mark.parametrize("trigger", TRIGGERS, ids=["version-1", "later-version"])
@pytest.mark.parametrize("channel", ["ui", "rest", "sync"])
def test_a_new_file_version_starts_a_process(channel: str, trigger: str) -> None:
    assert _verdict("disk.storage_1:5120", channel, trigger) == STARTED[trigger]


def test_drive_has_no_import() -> None:
    with pytest.raises(BadLineError, match="channel"):
        _verdict("disk.storage_1:5120", "import", "add")
