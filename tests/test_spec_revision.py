"""The nine rules the SPEC changed once checked against Bitrix's source: one example each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from replaying import as_lines, at, autostart, decisions_of, opened, replay_into

from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.explain import Query, explain
from projections.runner import catch_up

Line = dict[str, Any]
DEAL, LEAD, ITEM = "crm.deal:101", "crm.lead:5", "crm.dynamic_128:7"
LIST, FILE = "lists.iblock_30:77", "disk.storage_1:5120"
UNTUNED = [{"name": "Approver", "required": True}]


def _template(element: str, template: int = 1, **config: Any) -> Line:
    base = {
        "op": "template",
        "template": template,
        "document_type": element.split(":", maxsplit=1)[0],
    }
    return {**base, "auto_execute": 3, **config}


def _create(element: str, channel: str = "ui", minutes: float = 0, **extra: Any) -> Line:
    return {"op": "create", "at": at(minutes), "element": element, "channel": channel, **extra}


def _update(
    element: str, channel: str = "ui", changed: Line | None = None, minutes: float = 1
) -> Line:
    changed = {"TITLE": "renamed"} if changed is None else changed
    return {"op": "update", "at": at(minutes), "element": element, "channel": channel,
            "changed": changed}  # fmt: skip


def _made_by(traffic: list[Line], line: int) -> list[tuple[int, str, str]]:
    """(template, outcome, reason) of each decision of traffic line `line`, at depth 0."""
    return [
        (d["template"], d["outcome"], d["reason"])
        for d in decisions_of(traffic)
        if d["line"] == line and d["depth"] == 0
    ]


def _last(traffic: list[Line]) -> list[tuple[int, str, str]]:
    return _made_by(traffic, len(traffic))


# 1. An automation trigger's stage move is not a robot's


@pytest.mark.parametrize("element", [DEAL, LEAD])
@pytest.mark.parametrize("within", [False, True], ids=["option-off", "start_bp_within_bp"])
def test_an_automation_trigger_moving_a_deal_or_lead_stage_starts_nothing(
    element: str, within: bool
) -> None:
    traffic = [
        {"op": "portal", "start_bp_within_bp": within},
        _template(element),
        _create(element),
        _update(element, "trigger_stage_change", {"STAGE_ID": "WON"}),
    ]

    assert _last(traffic) == [(1, "skipped", "TRIGGER_STAGE_CHANGE")]


def test_an_automation_trigger_moving_a_factory_item_stage_starts_its_processes() -> None:
    traffic = [_template(ITEM), _create(ITEM), _update(ITEM, "trigger_stage_change")]

    assert _last(traffic) == [(1, "started", "AUTO_ON_CHANGE")]


def test_a_robot_moving_a_deal_stage_is_a_process_made_change_lifted_by_the_option() -> None:
    setup = [_template(DEAL), _create(DEAL)]
    robot = _update(DEAL, "robot", {"STAGE_ID": "WON"})

    off = _last([*setup, robot])
    on = _last([{"op": "portal", "start_bp_within_bp": True}, *setup, robot])

    assert off == [(1, "skipped", "CHANNEL_INNER")]
    assert on == [(1, "started", "AUTO_ON_CHANGE")]


def test_the_old_channel_name_robot_stage_change_is_bad_input_naming_both_channels(
    tmp_path: Path,
) -> None:
    traffic = tmp_path / "old.jsonl"
    lines = [_template(DEAL), _create(DEAL), _update(DEAL, "robot_stage_change")]
    traffic.write_text("\n".join(as_lines(lines)) + "\n")

    code, out, err = autostart("replay", str(traffic), "--store", str(tmp_path / "s.db"))

    assert code == 2
    assert out == ""
    assert "line 3" in err
    assert "trigger_stage_change" in err
    assert "robot" in err.replace("robot_stage_change", "")


# 2. CRM's legacy REST goes through Bitrix's older starter


def test_legacy_rest_update_starts_an_inactive_on_change_template_with_nothing_changed() -> None:
    traffic = [
        _template(DEAL, auto_execute=2, active=False),
        _create(DEAL),
        _update(DEAL, "rest", {}),
    ]

    assert _last(traffic) == [(1, "started", "AUTO_ON_CHANGE")]


def test_legacy_rest_add_starts_a_template_whose_required_constant_has_no_value() -> None:
    traffic = [_template(DEAL, constants=UNTUNED), _create(DEAL, "rest")]

    assert _last(traffic) == [(1, "started", "AUTO_ON_ADD")]


@pytest.mark.parametrize("channel", ["rest_item", "ui"])
def test_other_crm_channels_still_check_active_constants_and_changes(channel: str) -> None:
    traffic = [
        _template(DEAL, 1, active=False),
        _template(DEAL, 2, constants=UNTUNED),
        _template(DEAL, 3),
        _create(DEAL, "ui"),
        _update(DEAL, channel, {}),
    ]

    assert _last(traffic) == [
        (1, "skipped", "NO_CHANGES"),
        (2, "skipped", "NO_CHANGES"),
        (3, "skipped", "NO_CHANGES"),
    ]
    assert _made_by(traffic, 4)[:2] == [
        (1, "skipped", "TEMPLATE_INACTIVE"),
        (2, "skipped", "CONSTANTS_NOT_TUNED"),
    ]


def test_why_shows_the_active_check_does_not_apply_to_legacy_rest_and_its_source(
    tmp_path: Path,
) -> None:
    store = parse_store(str(tmp_path / "why.db"))
    traffic = [_template(DEAL, auto_execute=2, active=False), _create(DEAL), _update(DEAL, "rest")]
    with opened(str(tmp_path / "why.db")) as app:
        replay_into(app, traffic)

    code, out, _ = autostart("why", DEAL, "--store", str(tmp_path / "why.db"))
    with opened(str(tmp_path / "why.db")) as app:
        db = ReadDatabase(store)
        catch_up(app, db)
        explanation = explain(db, Query(DEAL))
        db.close()

    assert code == 0
    (active,) = [
        check
        for check in explanation["changes"][1]["decisions"][0]["checks"]
        if check["check"] == "active"
    ]
    assert active["passed"] is True
    assert active["values"] == {"active": False, "channel": "rest"}
    assert "not checked on this path" in active["source"]
    assert "CBPDocument::autoStartWorkflows" in active["source"]
    shown = [line for line in out.splitlines() if line.strip().startswith("pass active")]
    assert shown == [shown[0]]
    assert "active=off, channel=rest" in shown[0]
    assert "not checked on this path" in shown[0]


# 3. On-premise background starts: calls, web forms and open-line changes only


def _on_premise_two_templates(element: str) -> list[Line]:
    return [
        {"op": "portal", "edition": "on_premise", "limit_simultaneous_processes": 1},
        _template(element, 1, duration=600),
        _template(element, 2, duration=600),
    ]


@pytest.mark.parametrize("channel", ["email", "open_line"])
def test_on_premise_email_and_open_line_adds_start_at_once_and_meet_the_limit(
    channel: str,
) -> None:
    traffic = [*_on_premise_two_templates(DEAL), _create(DEAL, channel)]

    assert _last(traffic) == [(1, "started", "AUTO_ON_ADD"), (2, "rejected", "LIMIT_REJECTED")]


@pytest.mark.parametrize(
    ("channel", "op"), [("call", "add"), ("web_form", "add"), ("open_line", "change")]
)
def test_on_premise_calls_forms_and_open_line_changes_bypass_the_limit(
    channel: str, op: str
) -> None:
    traffic = [*_on_premise_two_templates(DEAL)]
    if op == "add":
        traffic.append(_create(DEAL, channel))
    else:
        traffic += [_create(DEAL, "system"), _update(DEAL, channel)]

    assert [outcome for _, outcome, _ in _last(traffic)] == ["started", "started"]


# 4. Drive: a file a process creates is a first version


def test_a_file_a_process_creates_starts_on_add_templates_without_parameters() -> None:
    traffic = [
        _template(FILE, 1),
        _template(FILE, 2, parameters=[{"name": "Reviewer"}]),
        _create(FILE, "bizproc"),
    ]

    assert _last(traffic) == [(1, "started", "AUTO_ON_ADD"), (2, "skipped", "PARAMETERS_MISMATCH")]


def test_a_drive_template_that_creates_a_file_starts_on_that_file_too() -> None:
    traffic = [
        _template(FILE, 1, auto_execute=1, actions=[{"create": "disk.storage_1"}]),
        _create(FILE, "ui"),
    ]

    made = [(d["element"], d["depth"], d["outcome"]) for d in decisions_of(traffic)][:3]

    assert made == [
        (FILE, 0, "started"),
        ("disk.storage_1:5121", 1, "started"),
        ("disk.storage_1:5122", 2, "started"),
    ]


def test_a_process_changing_a_file_starts_nothing() -> None:
    traffic = [_template(FILE), _create(FILE), _update(FILE, "bizproc", {"VERSION": 2})]

    assert _last(traffic) == [(1, "skipped", "CHANNEL_INNER")]


# 5. Lists REST ignores the list's switch and the required parameters


def test_lists_rest_ignores_the_list_switch_and_starts_with_missing_parameters_null() -> None:
    for element in (LIST, "feed.iblock_22:900"):
        traffic = [
            {"op": "container", "document_type": element.split(":")[0], "bizproc_enabled": False},
            _template(element, parameters=[{"name": "Reason", "required": True}]),
            _create(element, "rest"),
        ]

        assert _last(traffic) == [(1, "started", "AUTO_ON_ADD")]


def test_lists_ui_still_meets_the_switch_and_the_required_parameters() -> None:
    switched_off = [
        {"op": "container", "document_type": "lists.iblock_30", "bizproc_enabled": False},
        _template(LIST),
        _create(LIST, "ui"),
    ]
    required = [_template(LIST, parameters=[{"name": "Reason", "required": True}]), _create(LIST)]

    assert _last(switched_off) == [(1, "skipped", "CONTAINER_DISABLED")]
    assert _last(required) == [(1, "skipped", "PARAMETER_REQUIRED")]


# 6. Feed and lists: constants checked for the whole list; lists REST refuses the write


def test_an_untuned_template_of_a_list_stops_every_template_of_the_list() -> None:
    traffic = [
        _template(LIST, 1, auto_execute=1),
        _template(LIST, 2, auto_execute=2, active=False, constants=UNTUNED),
        _template(LIST, 3, auto_execute=0, constants=UNTUNED),
        _create(LIST, "ui"),
    ]

    assert _last(traffic) == [
        (1, "skipped", "CONSTANTS_NOT_TUNED"),
        (2, "skipped", "TEMPLATE_INACTIVE"),
        (3, "skipped", "NOT_ON_ADD"),
    ]


def test_a_template_that_never_starts_by_itself_does_not_stop_the_list() -> None:
    traffic = [_template(LIST, 1), _template(LIST, 3, auto_execute=0, constants=UNTUNED),
               _create(LIST, "ui")]  # fmt: skip

    assert _last(traffic)[0] == (1, "started", "AUTO_ON_ADD")


REFUSED = [
    _template(LIST, 1, auto_execute=1),
    _template(LIST, 2, auto_execute=2, constants=UNTUNED),
    _create(LIST, "rest", fields={"NAME": "Leave request"}),
]


def test_lists_rest_write_to_an_untuned_list_is_refused_every_template_recording_why() -> None:
    decisions = [d for d in decisions_of(REFUSED) if d["line"] == 3]

    assert [(d["template"], d["outcome"], d["reason"]) for d in decisions] == [
        (1, "skipped", "CONSTANTS_NOT_TUNED"),
        (2, "skipped", "CONSTANTS_NOT_TUNED"),
    ]
    assert all(d["process"] is None for d in decisions)


def test_a_refused_add_creates_no_element_and_is_explained(tmp_path: Path) -> None:
    path = str(tmp_path / "refused.db")
    with opened(path) as app:
        replay_into(app, REFUSED)
    later = tmp_path / "later.jsonl"
    later.write_text(json.dumps(_update(LIST, "ui", minutes=5)) + "\n")

    code, out, err = autostart("replay", str(later), "--store", path)
    shown, text, _ = autostart("why", LIST, "--store", path)
    _, as_json, _ = autostart("why", LIST, "--store", path, "--json")

    assert code == 2
    assert out == ""
    assert f"{LIST} does not exist: the portal refused its add" in err
    assert shown == 0
    assert "create via rest" in text
    assert "refused by the portal, nothing was written" in text
    assert "FAIL constants    untuned=[template 2: Approver]" in text
    explanation = json.loads(as_json)
    (change,) = explanation["changes"]
    assert change["refused"] is True
    assert change["trigger"] == "add"
    assert [d["reason"] for d in change["decisions"]] == ["CONSTANTS_NOT_TUNED"] * 2


def test_a_refused_add_leaves_its_name_free_for_a_later_add() -> None:
    traffic = [
        *REFUSED,
        {"op": "template", "template": 2, "constants": [{**UNTUNED[0], "value": "user_1"}]},
        _create(LIST, "rest", minutes=5),
    ]

    assert _last(traffic) == [(1, "started", "AUTO_ON_ADD"), (2, "skipped", "NOT_ON_ADD")]


def test_a_refused_change_leaves_the_element_as_it_was(tmp_path: Path) -> None:
    path = str(tmp_path / "change.db")
    traffic = [
        _template(LIST, 1, auto_execute=2),
        _create(LIST, "ui"),
        {"op": "template", "template": 2, "document_type": "lists.iblock_30", "auto_execute": 1,
         "constants": UNTUNED},
        _update(LIST, "rest", {"NAME": "new"}),
        _update(LIST, "ui", {"NAME": "newer"}, minutes=2),
    ]  # fmt: skip
    with opened(path) as app:
        decisions = replay_into(app, traffic)
        db = ReadDatabase(parse_store(path))
        catch_up(app, db)
        ops = [row["op"] for row in db.query("SELECT op FROM changes ORDER BY id")]
        db.close()

    assert ops == ["create", "update_refused", "update"]
    assert [(d["line"], d["reason"]) for d in decisions if d["template"] == 1] == [
        (2, "NOT_ON_ADD"),
        (4, "CONSTANTS_NOT_TUNED"),
        (5, "CONSTANTS_NOT_TUNED"),
    ]


def test_no_write_is_refused_while_business_processes_are_off() -> None:
    traffic = [{"op": "portal", "plan": "basic"}, *REFUSED, _update(LIST, "ui", minutes=5)]

    assert _last(traffic) == [
        (1, "skipped", "FEATURE_DISABLED"),
        (2, "skipped", "FEATURE_DISABLED"),
    ]


# 7. Drive enforces required parameters when the upload carries values


def test_drive_refuses_a_start_when_values_are_given_but_a_required_one_is_missing() -> None:
    parameters = [{"name": "Reviewer", "required": True}, {"name": "Note"}]
    traffic = [_template(FILE, parameters=parameters), _create(FILE, parameters={"Note": "x"})]

    assert _last(traffic) == [(1, "skipped", "PARAMETER_REQUIRED")]


def test_drive_starts_when_the_required_value_is_given_or_defaults() -> None:
    given = [_template(FILE, parameters=[{"name": "Reviewer", "required": True}]),
             _create(FILE, parameters={"Reviewer": "user_2"})]  # fmt: skip
    defaulted = [
        _template(FILE, parameters=[{"name": "Reviewer", "required": True, "default": "u"}]),
        _create(FILE, parameters={"Note": "x"}),
    ]

    assert _last(given) == [(1, "started", "AUTO_ON_ADD")]
    assert _last(defaulted) == [(1, "started", "AUTO_ON_ADD")]


# 8. Constants are checked before parameters


@pytest.mark.parametrize(
    ("element", "parameters"),
    [(LIST, {}), (FILE, {}), (FILE, {"Note": "x"})],
    ids=["list-parameter-required", "drive-mismatch", "drive-parameter-required"],
)
def test_constants_are_checked_before_parameters(element: str, parameters: Line) -> None:
    template = _template(
        element, constants=UNTUNED, parameters=[{"name": "Reason", "required": True}]
    )
    traffic = [template, _create(element, parameters=parameters)]

    assert _last(traffic) == [(1, "skipped", "CONSTANTS_NOT_TUNED")]


def test_why_still_explains_a_store_decided_under_a_since_revised_rule(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    with opened(path) as app:
        replay_into(app, [_template(DEAL), _create(DEAL)])
        db = ReadDatabase(parse_store(path))
        catch_up(app, db)
        db.execute(
            "UPDATE decisions SET reason = 'ROBOT_STAGE_CHANGE', checks = ?",
            (json.dumps([["channel.stage_deal", {"channel": "robot_stage_change"}]]),),
        )
        db.close()

    code, out, err = autostart("why", DEAL, "--store", path)

    assert (code, err) == (0, "")
    assert "FAIL channel      channel=robot_stage_change  [I] rule channel.stage_deal" in out
    assert "earlier model version" in out
