"""The property-testing toolkit: generated traffic replays; a set-up's machine runs and bites."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import invariant, run_state_machine_as_test
from replaying import decisions_of

from domain.vocabulary import Module, Trigger, document_type
from simulations.strategies import (
    TIMED_OPS,
    containers,
    document_types,
    portal_settings,
    setups,
    templates,
    traffic,
)
from simulations.testing import STARTS, TemplateSetupMachine, rounds
from simulations.traffic import parse_line

Line = dict[str, Any]

# An administrator's set-up: deals approved on add, reviewed on change; telephony off.
DEAL_APPROVAL: list[Line] = [
    {"op": "portal", "telephony": False, "email_integration": False},
    {
        "op": "template",
        "template": 11,
        "document_type": "crm.deal",
        "auto_execute": 1,
        "duration": 600,
        "constants": [{"name": "Approver", "required": True, "value": "user_1"}],
    },
    {
        "op": "template",
        "template": 12,
        "document_type": "crm.deal",
        "auto_execute": 2,
        "actions": [{"update": {"STAGE_ID": "REVIEW"}}, {"create": "crm.lead"}],
    },
    {"op": "template", "template": 21, "document_type": "feed.iblock_22", "auto_execute": 3},
    {"op": "container", "document_type": "feed.iblock_22", "bizproc_enabled": True},
]
CAUGHT = settings(
    max_examples=200,
    stateful_step_count=12,
    database=None,
    phases=[Phase.generate],
    report_multiple_bugs=False,
)


def check_constraints(
    lines: list[Line], setup: list[Line], max_lines: int, types: list[str] | None = None
) -> None:
    """The SPEC's rules for valid traffic, checked line by line from the vocabulary alone."""
    assert lines[: len(setup)] == setup
    assert len(lines) - len(setup) <= max_lines
    email = telephony = True
    clock: datetime | None = None
    used: set[str] = set()
    live: set[str] = set()
    for number, line in enumerate(lines, start=1):
        parse_line(json.dumps(line), number)  # every field as the SPEC expects
        op = line["op"]
        if number > len(setup):
            assert op in TIMED_OPS, line
        if "at" in line:
            at = datetime.fromisoformat(line["at"])
            assert clock is None or at >= clock, line
            clock = at
        if op == "portal":
            email = line.get("email_integration", email)
            telephony = line.get("telephony", telephony)
        if op in ("create", "update"):
            trigger = Trigger.ADD if op == "create" else Trigger.CHANGE
            kind = line["element"].rsplit(":", 1)[0]
            assert document_type(kind).allows(line["channel"], trigger), line
            assert email or line["channel"] != "email", line
            assert telephony or line["channel"] != "call", line
        new = {"create": [line.get("element")], "import": line.get("elements", [])}.get(op, [])
        assert not used & set(new), line
        used |= set(new)
        live |= set(new)
        if op in ("update", "delete"):
            assert line["element"] in live, line
        if op == "delete":
            live.remove(line["element"])
        if types is not None and number > len(setup):
            touched = [*new, line.get("element")] if op != "import" else new
            assert {e.rsplit(":", 1)[0] for e in touched if e} <= set(types), line


# Strategies


@settings(max_examples=60)
@given(lines=traffic(max_lines=15))
def test_generated_traffic_always_replays(lines: list[Line]) -> None:
    decisions = decisions_of(lines)  # a BadLineError would fail the test

    assert all(d["outcome"] not in STARTS for d in decisions if d["channel"] == "import")


UNTUNED_LIST = [
    {"op": "template", "template": 1, "document_type": "lists.iblock_30", "auto_execute": 2,
     "constants": [{"name": "Approver", "required": True}]},
    {"op": "template", "template": 2, "document_type": "lists.iblock_30", "auto_execute": 1},
]  # fmt: skip


@settings(max_examples=40)
@given(lines=traffic(setup=UNTUNED_LIST, document_types=["lists.iblock_30"], max_lines=20))
def test_traffic_never_names_an_element_whose_add_the_portal_refused(lines: list[Line]) -> None:
    refused = {
        line["element"] for line in lines if line["op"] == "create" and line["channel"] == "rest"
    }
    named_later = {
        line["element"]
        for index, line in enumerate(lines)
        if line["op"] in ("update", "delete")
        and any(earlier.get("element") == line["element"] for earlier in lines[:index])
    }

    decisions = decisions_of(lines)  # a BadLineError would fail the test

    assert not refused & named_later
    assert all(d["reason"] == "CONSTANTS_NOT_TUNED" for d in decisions if d["channel"] == "rest")


@settings(max_examples=60)
@given(data=st.data())
def test_setup_and_traffic_keep_to_the_spec_constraints(data: st.DataObject) -> None:
    setup = data.draw(setups(), label="setup")

    lines = data.draw(traffic(setup=setup, max_lines=12), label="traffic")

    check_constraints(lines, setup, max_lines=12)


@settings(max_examples=40)
@given(lines=traffic(setup=DEAL_APPROVAL, document_types=["crm.deal", "crm.lead"], max_lines=20))
def test_a_users_setup_comes_first_and_its_switches_hold(lines: list[Line]) -> None:
    channels = {line.get("channel") for line in lines}

    check_constraints(lines, DEAL_APPROVAL, max_lines=20, types=["crm.deal", "crm.lead"])
    assert not channels & {"email", "call"}  # e-mail integration and telephony are off
    decisions_of(lines)


@settings(max_examples=60)
@given(
    line=st.one_of(
        portal_settings(),
        containers(),
        containers(["crm.deal", "lists.iblock_3"]),
        templates(["crm.deal", "disk.storage_1"], ids=[11, 12]),
    )
)
def test_settings_lines_are_valid_and_within_what_was_asked(line: Line) -> None:
    parse_line(json.dumps(line), 1)

    if line["op"] == "container":
        assert document_type(line["document_type"]).has_container
    if line["op"] == "template":
        assert line["template"] in (11, 12)
        assert line["document_type"] in ("crm.deal", "disk.storage_1")
        assert 0 <= line["auto_execute"] <= 3


@settings(max_examples=40)
@given(data=st.data(), modules=st.sets(st.sampled_from(list(Module)), min_size=1))
def test_document_types_are_of_the_modules_asked_for(
    data: st.DataObject, modules: set[Module]
) -> None:
    name = data.draw(document_types(modules=[m.value for m in modules]))

    assert document_type(name).module in modules


def test_strategies_refuse_arguments_that_cannot_give_valid_traffic() -> None:
    with pytest.raises(InvalidArgument):
        containers(["crm.deal"])
    with pytest.raises(InvalidArgument):
        document_types(modules=["erp"])
    with pytest.raises(InvalidArgument):
        templates(["crm.nothing"])
    with pytest.raises(InvalidArgument):
        traffic(max_lines=-1)


# The set-up machine


@settings(max_examples=15, stateful_step_count=20)
class DealApprovalSetup(TemplateSetupMachine):
    setup: ClassVar[list[Line]] = DEAL_APPROVAL
    document_types: ClassVar[list[str]] = ["crm.deal", "crm.lead", "feed.iblock_22"]

    @invariant()
    def template_12_never_starts_on_an_add(self) -> None:
        for d in self.last_decisions:
            if d["template"] == 12 and d["trigger"] == "add":
                assert d["outcome"] == "skipped", d

    @invariant()
    def every_deal_made_by_hand_starts_its_approval(self) -> None:
        for d in self.last_decisions:
            if (d["template"], d["trigger"], d["channel"]) == (11, "add", "ui"):
                assert (d["outcome"], d["reason"]) == ("started", "AUTO_ON_ADD"), d


TestDealApprovalSetup = DealApprovalSetup.TestCase


class WebFormsNeverStartTheApproval(DealApprovalSetup):
    """A wrong belief: web forms are a channel that starts processes."""

    document_types: ClassVar[list[str]] = ["crm.deal"]

    @invariant()
    def template_11_never_starts_for_web_forms(self) -> None:
        for d in self.last_decisions:
            if d["template"] == 11 and d["channel"] == "web_form":
                assert d["outcome"] not in STARTS, f"template 11 started for a web form: {d}"


def test_a_wrong_user_law_is_caught() -> None:
    with pytest.raises(AssertionError, match="template 11 started for a web form"):
        run_state_machine_as_test(WebFormsNeverStartTheApproval, settings=CAUGHT)


class LeadIntake(TemplateSetupMachine):
    setup: ClassVar[list[Line]] = [
        {
            "op": "template",
            "template": 5,
            "document_type": "crm.lead",
            "auto_execute": 3,
            "actions": [{"update": {"STAGE_ID": "IN_PROCESS"}}],
        }
    ]


class LeadIntakeWithImportsStarting(LeadIntake):
    faults = frozenset({"imports-start"})


class LeadIntakeWithProcessChangesStarting(LeadIntake):
    faults = frozenset({"process-changes-start"})


@pytest.mark.parametrize(
    ("machine", "law"),
    [
        (LeadIntakeWithImportsStarting, "an import started a process"),
        (LeadIntakeWithProcessChangesStarting, "a process-made change started a process"),
    ],
)
def test_the_built_in_laws_catch_a_planted_fault(
    machine: type[TemplateSetupMachine], law: str
) -> None:
    with pytest.raises(AssertionError, match=law):
        run_state_machine_as_test(machine, settings=CAUGHT)


def test_a_round_is_a_run_of_ascending_templates_on_one_change() -> None:
    change = {"line": 1, "depth": 0, "at": "t", "element": "crm.deal:1", "trigger": "change"}
    first = [{**change, "channel": "ui", "template": t} for t in (11, 12)]
    again = [{**change, "channel": "ui", "template": t} for t in (11, 12)]

    grouped = rounds([*first, *again])

    assert grouped == [first, again]


def test_a_change_left_undecided_by_a_template_breaks_the_law() -> None:
    machine = DealApprovalSetup()
    line = {
        "op": "create",
        "at": "2026-03-02T09:00:00+03:00",
        "element": "crm.deal:1",
        "channel": "ui",
    }
    try:
        machine.templates_before = machine.state.templates
        machine.last_line = line
        machine.last_decisions = decisions_of([*DEAL_APPROVAL, line])[:1]  # template 12 lost

        with pytest.raises(AssertionError, match=r"templates \[11, 12\] should decide"):
            machine.every_change_gets_one_decision_per_template()
    finally:
        machine.teardown()
