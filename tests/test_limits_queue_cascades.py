"""The simultaneous limit, the queue, simulated time, template versions and cascades."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from replaying import START, at, decisions_of

from domain.application import AutostartApplication
from domain.elements import Element
from domain.stores import parse_store
from simulations.replay import open_store

Line = dict[str, Any]
DEAL = "crm.deal:1"
PROCESS_EVENTS = (
    Element.ProcessQueued,
    Element.ProcessStarted,
    Element.ProcessCompleted,
    Element.ProcessDropped,
    Element.ProcessTerminated,
)


def _template(template: int, document_type: str = "crm.deal", **config: Any) -> Line:
    base = {"op": "template", "template": template, "document_type": document_type}
    return {**base, "auto_execute": config.pop("auto_execute", 3), **config}


def _create(element: str, minutes: float, channel: str = "ui") -> Line:
    return {"op": "create", "at": at(minutes), "element": element, "channel": channel}


def _update(element: str, minutes: float, channel: str = "ui") -> Line:
    line = {"op": "update", "at": at(minutes), "element": element, "channel": channel}
    return {**line, "changed": {"TITLE": f"edited at {minutes}"}}


def _portal(minutes: float | None = None, **settings: Any) -> Line:
    return {"op": "portal", **settings} | ({} if minutes is None else {"at": at(minutes)})


def _rows(decisions: list[dict[str, Any]], line: int) -> list[tuple[int, str, str | None]]:
    """(template, outcome, process) of the decisions of one traffic line."""
    return [(d["template"], d["outcome"], d["process"]) for d in decisions if d["line"] == line]


@contextmanager
def _store(path: Path) -> Iterator[AutostartApplication]:
    app = open_store(parse_store(str(path)))
    try:
        yield app
    finally:
        app.close()


def _process_events(path: Path, element: str) -> list[tuple[str, str, float]]:
    """(event, process, minutes after the test epoch) of the element's process events."""
    with _store(path) as app:
        aggregate = app.element(element)
        assert aggregate is not None
        events = list(app.events.get(aggregate.id))
    return [
        (type(e).__name__, e.process, (e.timestamp - START) / timedelta(minutes=1))
        for e in events
        if isinstance(e, PROCESS_EVENTS)
    ]


# The limit and the queue


def test_queued_instances_start_first_in_first_out_as_slots_free(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    traffic = [
        _portal(limit_simultaneous_processes=1),
        _template(1, duration=600),
        _template(2, auto_execute=1, duration=600),
        _create(DEAL, 0),
        _update(DEAL, 5),
        _create("crm.lead:1", 30),
    ]

    decisions = decisions_of(traffic, str(store))

    assert _rows(decisions, 4) == [(1, "started", "crm.deal:1#1"), (2, "queued", "crm.deal:1#2")]
    assert _rows(decisions, 5)[0] == (1, "queued", "crm.deal:1#3")
    assert _process_events(store, DEAL) == [
        ("ProcessStarted", "crm.deal:1#1", 0),
        ("ProcessQueued", "crm.deal:1#2", 0),
        ("ProcessQueued", "crm.deal:1#3", 5),
        ("ProcessCompleted", "crm.deal:1#1", 10),
        ("ProcessStarted", "crm.deal:1#2", 10),
        ("ProcessCompleted", "crm.deal:1#2", 20),
        ("ProcessStarted", "crm.deal:1#3", 20),
        ("ProcessCompleted", "crm.deal:1#3", 30),
    ]


def test_a_completion_due_at_a_lines_time_frees_its_slot_before_the_line_is_decided() -> None:
    traffic = [
        _portal(limit_simultaneous_processes=1),
        _template(1, auto_execute=1, duration=600),
        _template(2, auto_execute=2),
        _create(DEAL, 0),
        _update(DEAL, 5),
        _update(DEAL, 10),
    ]

    decisions = decisions_of(traffic)

    assert _rows(decisions, 5)[1] == (2, "queued", "crm.deal:1#2")
    assert _rows(decisions, 6)[1] == (2, "started", "crm.deal:1#3")


def test_instances_of_duration_zero_never_hold_a_slot() -> None:
    traffic = [_portal(limit_simultaneous_processes=1), *(_template(t) for t in (1, 2, 3))]

    decisions = decisions_of([*traffic, _create(DEAL, 0), _update(DEAL, 1)])

    assert [d["outcome"] for d in decisions] == ["started"] * 6


def test_an_instance_of_duration_zero_still_needs_a_free_slot(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    traffic = [
        _portal(limit_simultaneous_processes=1),
        _template(1, duration=600),
        _template(2),
        _create(DEAL, 0),
        _create("crm.lead:1", 15),
    ]

    decisions = decisions_of(traffic, str(store))

    assert _rows(decisions, 4)[1] == (2, "queued", "crm.deal:1#2")
    assert _process_events(store, DEAL)[-2:] == [
        ("ProcessStarted", "crm.deal:1#2", 10),
        ("ProcessCompleted", "crm.deal:1#2", 10),
    ]


def test_the_reject_policy_queues_nothing_and_still_decides_the_later_templates(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.db"
    portal = _portal(edition="on_premise", limit_simultaneous_processes=1)
    templates = [_template(1, duration=600), _template(2, duration=600), _template(3)]

    decisions = decisions_of([portal, *templates, _create(DEAL, 0), _update(DEAL, 20)], str(store))

    assert _rows(decisions, 5) == [
        (1, "started", "crm.deal:1#1"),
        (2, "rejected", None),
        (3, "rejected", None),
    ]
    assert [kind for kind, _, _ in _process_events(store, DEAL)].count("ProcessQueued") == 0


BACKGROUND = pytest.mark.parametrize("channel", ["call", "web_form", "open_line", "email"])


@pytest.mark.parametrize("channel", ["call", "web_form"])
def test_on_premise_background_starts_bypass_the_limit_but_count_as_running(channel: str) -> None:
    traffic = [
        _portal(edition="on_premise", limit_simultaneous_processes=1),
        _template(1, auto_execute=1, duration=600),
        _template(2, auto_execute=1, duration=600),
        _template(3, auto_execute=2),
        _create(DEAL, 0, channel),
        _update(DEAL, 1),
        _update(DEAL, 2, channel),
    ]

    decisions = decisions_of(traffic)

    assert [o for _, o, _ in _rows(decisions, 5)] == ["started", "started", "skipped"]
    assert _rows(decisions, 6)[2] == (3, "rejected", None)
    assert _rows(decisions, 7)[2][1] == "started"


@pytest.mark.parametrize(("channel", "background_change"), [("open_line", True), ("email", False)])
def test_on_premise_mail_and_open_line_adds_start_at_once_and_meet_the_limit(
    channel: str, background_change: bool
) -> None:
    traffic = [
        _portal(edition="on_premise", limit_simultaneous_processes=1),
        _template(1, auto_execute=1, duration=600),
        _template(2, auto_execute=1, duration=600),
        _template(3, auto_execute=2),
        _create(DEAL, 0, channel),
        _update(DEAL, 1, channel),
    ]

    decisions = decisions_of(traffic)

    assert [o for _, o, _ in _rows(decisions, 5)] == ["started", "rejected", "skipped"]
    assert _rows(decisions, 6)[2][1] == ("started" if background_change else "rejected")


@BACKGROUND
def test_cloud_applies_the_limit_to_background_starts(channel: str) -> None:
    templates = [_template(t, duration=600) for t in (1, 2, 3)]

    decisions = decisions_of([_portal(edition="cloud"), *templates, _create(DEAL, 0, channel)])

    assert [d["outcome"] for d in decisions] == ["started", "started", "queued"]


def test_raising_then_lifting_the_limit_starts_the_head_of_the_queue(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    traffic = [
        _portal(limit_simultaneous_processes=1),
        *(_template(t, duration=600) for t in (1, 2, 3)),
        _create(DEAL, 0),
        _portal(4, limit_simultaneous_processes=2),
        _portal(6, limit_simultaneous_processes=0),
    ]

    decisions_of(traffic, str(store))

    starts = [(p, m) for kind, p, m in _process_events(store, DEAL) if kind == "ProcessStarted"]
    assert starts == [("crm.deal:1#1", 0), ("crm.deal:1#2", 4), ("crm.deal:1#3", 6)]


@pytest.mark.parametrize(
    ("portal_lines", "expected"),
    [
        pytest.param([{"edition": "on_premise"}], ["started"] * 3, id="on-premise-unlimited"),
        pytest.param([{"limit_simultaneous_processes": 1}, {"edition": "on_premise"}],
                     ["started"] * 3, id="edition-change-resets-a-custom-limit"),
        pytest.param([{"edition": "on_premise"}, {"edition": "cloud"}],
                     ["started", "started", "queued"], id="back-to-cloud-limit-2-queue"),
        pytest.param([{"edition": "on_premise", "limit_simultaneous_processes": 2}],
                     ["started", "started", "rejected"], id="limit-given-policy-reset"),
        pytest.param([{"edition": "on_premise", "limit_simultaneous_processes": 2,
                       "limit_policy": "queue"}],
                     ["started", "started", "queued"], id="limit-and-policy-given"),
    ],
)  # fmt: skip
def test_changing_the_edition_resets_the_limit_and_policy_unless_given(
    portal_lines: list[Line], expected: list[str]
) -> None:
    traffic = [
        *(_portal(**p) for p in portal_lines),
        *(_template(t, duration=600) for t in (1, 2, 3)),
    ]

    decisions = decisions_of([*traffic, _create(DEAL, 0)])

    assert [d["outcome"] for d in decisions] == expected


@pytest.mark.parametrize(
    ("portal_lines", "reasons"),
    [
        pytest.param([{"plan": "free"}, {"licence": "paid"}],
                     ("FEATURE_DISABLED", "FEATURE_DISABLED"), id="free-plan-stays-off"),
        pytest.param([{"plan": "free"}, {"features": {"bizproc": True, "lists_processes": True}}],
                     ("AUTO_ON_ADD", "AUTO_ON_ADD"), id="later-features-override"),
        pytest.param([{"plan": "basic", "features": {"bizproc": True}}],
                     ("AUTO_ON_ADD", "FEATURE_DISABLED"), id="same-line-features-override"),
        pytest.param([{"features": {"bizproc": False}}, {"plan": "standard"}],
                     ("AUTO_ON_ADD", "AUTO_ON_ADD"), id="plan-resets-earlier-features"),
    ],
)  # fmt: skip
def test_a_plan_line_resets_the_features_and_later_features_override(
    portal_lines: list[Line], reasons: tuple[str, str]
) -> None:
    templates = [_template(1), _template(2, "feed.iblock_22")]
    creates = [_create(DEAL, 0), _create("feed.iblock_22:900", 0)]

    decisions = decisions_of([*(_portal(**p) for p in portal_lines), *templates, *creates])

    assert tuple(d["reason"] for d in decisions) == reasons


def test_a_settings_line_without_at_takes_the_time_of_the_line_before(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    traffic = [
        _portal(limit_simultaneous_processes=1),
        *(_template(t, duration=600) for t in (1, 2)),
        _create(DEAL, 0),
        _create("crm.lead:1", 5),
        _portal(limit_simultaneous_processes=2),
    ]

    decisions_of(traffic, str(store))

    assert ("ProcessStarted", "crm.deal:1#2", 5) in _process_events(store, DEAL)
    with _store(store) as app:
        element = app.element(DEAL)
    assert element is not None
    assert element.running["crm.deal:1#2"] == START + timedelta(minutes=15)


def test_a_delete_drops_the_queue_and_terminates_running_instances(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    templates = [_template(t, duration=600) for t in (1, 2, 3)]
    delete = {"op": "delete", "at": at(5), "element": DEAL}

    decisions_of([*templates, _create(DEAL, 0), delete, _create("crm.lead:1", 30)], str(store))

    events = _process_events(store, DEAL)
    with _store(store) as app:
        element = app.element(DEAL)
        assert element is not None
        drops = [e for e in app.events.get(element.id) if isinstance(e, Element.ProcessDropped)]
    assert events[3:] == [
        ("ProcessDropped", "crm.deal:1#3", 5),
        ("ProcessTerminated", "crm.deal:1#1", 5),
        ("ProcessTerminated", "crm.deal:1#2", 5),
    ]
    assert [d.reason for d in drops] == ["DOCUMENT_DELETED"]
    assert (element.running, element.queue) == ({}, [])


def test_every_matching_change_starts_a_new_instance_even_if_one_is_running() -> None:
    traffic = [_portal(edition="on_premise"), _template(1, auto_execute=2, duration=600)]

    decisions = decisions_of([*traffic, _create(DEAL, 0), _update(DEAL, 1), _update(DEAL, 2)])

    assert [(o, p) for _, o, p in _rows(decisions, 4) + _rows(decisions, 5)] == [
        ("started", "crm.deal:1#1"),
        ("started", "crm.deal:1#2"),
    ]


# Templates: order, versions, and process ids


def test_templates_are_decided_in_ascending_id_whatever_the_declaration_order() -> None:
    templates = [_template(t, duration=600) for t in (30, 10, 20)]

    decisions = decisions_of([*templates, _create(DEAL, 0)])

    assert _rows(decisions, 4) == [
        (10, "started", "crm.deal:1#1"),
        (20, "started", "crm.deal:1#2"),
        (30, "queued", "crm.deal:1#3"),
    ]


def test_each_template_line_is_a_new_version_that_later_decisions_use() -> None:
    traffic = [
        _template(1),
        _create(DEAL, 0),
        {"op": "template", "template": 1, "active": False},
        _update(DEAL, 1),
        {"op": "template", "template": 1, "active": True, "auto_execute": 1},
        _update(DEAL, 2),
    ]

    decisions = decisions_of(traffic)

    assert [(d["template_version"], d["reason"]) for d in decisions] == [
        (1, "AUTO_ON_ADD"),
        (2, "TEMPLATE_INACTIVE"),
        (3, "NOT_ON_CHANGE"),
    ]


def test_a_queued_instance_keeps_the_configuration_it_was_queued_with(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    old_actions = [{"update": {"STAGE_ID": "WON"}}]
    traffic = [
        _portal(limit_simultaneous_processes=1),
        _template(1, auto_execute=1, duration=600),
        _template(2, auto_execute=1, duration=300, actions=old_actions),
        _create(DEAL, 0),
        {"op": "template", "template": 2, "duration": 3600, "actions": []},
        _create("crm.lead:1", 30),
    ]

    decisions = decisions_of(traffic, str(store))

    assert _rows(decisions, 4)[1] == (2, "queued", "crm.deal:1#2")
    cascade = [(d["line"], d["depth"], d["at"], d["channel"]) for d in decisions if d["depth"]]
    assert cascade == [(4, 1, at(10), "bizproc")] * 2
    assert ("ProcessCompleted", "crm.deal:1#2", 15) in _process_events(store, DEAL)


def test_process_ids_are_unique_and_the_same_on_every_replay() -> None:
    traffic = [
        _template(1, duration=600, actions=[{"create": "crm.lead"}]),
        *(_template(t, duration=600) for t in (2, 3)),
        _template(4, "crm.lead"),
        _create(DEAL, 0),
        _create("crm.deal:2", 1),
        _update(DEAL, 2),
        _create("crm.lead:7", 3),
    ]

    first, second = decisions_of(traffic), decisions_of(traffic)

    processes = [d["process"] for d in first if d["process"] is not None]
    assert len(processes) == len(set(processes)) > 6
    assert first == second


def test_process_ids_stay_unique_across_replays_into_one_store(tmp_path: Path) -> None:
    store = str(tmp_path / "store.db")

    first = decisions_of([_template(1), _create(DEAL, 0)], store)
    second = decisions_of([_update(DEAL, 1)], store)

    assert first[0]["process"] is not None
    assert second[0]["process"] not in (None, first[0]["process"])


def test_what_is_due_after_the_last_line_happens_in_a_later_replay(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    traffic = [
        _portal(limit_simultaneous_processes=1),
        *(_template(t, duration=600) for t in (1, 2)),
    ]
    decisions_of([*traffic, _create(DEAL, 0)], str(store))
    assert [kind for kind, _, _ in _process_events(store, DEAL)] == [
        "ProcessStarted",
        "ProcessQueued",
    ]

    decisions_of([_create("crm.lead:1", 30)], str(store))

    assert _process_events(store, DEAL)[2:] == [
        ("ProcessCompleted", "crm.deal:1#1", 10),
        ("ProcessStarted", "crm.deal:1#2", 10),
        ("ProcessCompleted", "crm.deal:1#2", 20),
    ]


# Cascades

WITHIN_BP_ON = _portal(start_bp_within_bp=True)
LOOP = {"update": {"STAGE_ID": "LOOP"}}


def _cascade(decisions: list[dict[str, Any]]) -> list[tuple[int, str, str, int, str]]:
    """(depth, element, channel, template, reason) of each decision."""
    return [(d["depth"], d["element"], d["channel"], d["template"], d["reason"]) for d in decisions]


def test_an_update_action_is_a_bizproc_change_one_level_deeper_on_the_roots_line() -> None:
    traffic = [
        _template(1, auto_execute=1, actions=[LOOP]),
        _template(2, auto_execute=2),
        _create(DEAL, 0),
    ]

    decisions = decisions_of(traffic)

    assert {(d["line"], d["at"]) for d in decisions} == {(3, at(0))}
    assert _cascade(decisions) == [
        (0, DEAL, "ui", 1, "AUTO_ON_ADD"),
        (0, DEAL, "ui", 2, "NOT_ON_ADD"),
        (1, DEAL, "bizproc", 1, "CHANNEL_INNER"),
        (1, DEAL, "bizproc", 2, "CHANNEL_INNER"),
    ]


def test_a_create_action_uses_one_more_than_the_largest_id_ever_used() -> None:
    leads = ["crm.lead:5", "crm.lead:9"]
    traffic = [
        _template(1, auto_execute=1, actions=[{"create": "crm.lead"}]),
        _template(2, "crm.lead", auto_execute=1),
        {"op": "import", "at": at(0), "document_type": "crm.lead", "elements": leads},
        {"op": "delete", "at": at(1), "element": "crm.lead:9"},
        _create(DEAL, 2),
        _create("crm.deal:2", 3),
    ]

    decisions = decisions_of(traffic)

    created = [(d["line"], d["element"], d["trigger"]) for d in decisions if d["depth"] == 1]
    assert created == [(5, "crm.lead:10", "add"), (6, "crm.lead:11", "add")]


def test_a_round_decides_every_template_then_runs_actions_depth_first() -> None:
    traffic = [
        WITHIN_BP_ON,
        _template(1, auto_execute=1, actions=[{"create": "crm.lead"}]),
        _template(2, auto_execute=1, actions=[{"create": "crm.contact"}]),
        _template(3, "crm.lead", auto_execute=1, actions=[{"create": "crm.company"}]),
        _template(4, "crm.contact", auto_execute=1),
        _template(5, "crm.company", auto_execute=1),
        _create(DEAL, 0),
    ]

    decisions = decisions_of(traffic)

    assert [(d["depth"], d["element"], d["template"]) for d in decisions] == [
        (0, DEAL, 1),
        (0, DEAL, 2),
        (1, "crm.lead:1", 3),
        (2, "crm.company:1", 5),
        (1, "crm.contact:1", 4),
    ]


def test_a_runaway_cascade_is_stopped_after_depth_20_and_recorded(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    warnings: list[str] = []
    traffic = [WITHIN_BP_ON, _template(1, auto_execute=2, actions=[LOOP]), _create(DEAL, 0)]

    decisions = decisions_of([*traffic, _update(DEAL, 1)], str(store), warnings=warnings)

    assert [(d["line"], d["depth"], d["outcome"]) for d in decisions[1:]] == [
        (4, depth, "started") for depth in range(21)
    ]
    assert len(warnings) == 1
    with _store(store) as app:
        element = app.element(DEAL)
        assert element is not None
        halts = [e for e in app.events.get(element.id) if isinstance(e, Element.CascadeHalted)]
    assert len(halts) == 1
    assert halts[0].line == 4
    assert len(halts[0].chain) == 21
    assert halts[0].chain[0]["element"] == DEAL


def test_a_halted_cascade_runs_no_further_action_of_its_root() -> None:
    warnings: list[str] = []
    actions = [LOOP, {"create": "crm.lead"}]
    traffic = [
        WITHIN_BP_ON,
        _template(1, auto_execute=2, actions=actions),
        _template(2, "crm.lead", auto_execute=1),
        _create(DEAL, 0),
        _update(DEAL, 1),
    ]

    decisions = decisions_of(traffic, warnings=warnings)

    assert {d["element"] for d in decisions} == {DEAL}
    assert max(d["depth"] for d in decisions) == 20
    assert len(warnings) == 1


def test_a_smaller_max_depth_stops_the_cascade_sooner() -> None:
    warnings: list[str] = []
    traffic = [WITHIN_BP_ON, _template(1, auto_execute=2, actions=[LOOP]), _create(DEAL, 0)]

    decisions = decisions_of([*traffic, _update(DEAL, 1)], max_depth=3, warnings=warnings)

    assert [d["depth"] for d in decisions if d["line"] == 4] == [0, 1, 2, 3]
    assert len(warnings) == 1


def test_a_cascade_deeper_than_pythons_own_stack_stops_at_max_depth() -> None:
    warnings: list[str] = []
    traffic = [WITHIN_BP_ON, _template(1, auto_execute=2, actions=[LOOP]), _create(DEAL, 0)]

    decisions = decisions_of([*traffic, _update(DEAL, 1)], max_depth=3000, warnings=warnings)

    assert [d["depth"] for d in decisions if d["line"] == 4] == list(range(3001))
    assert len(warnings) == 1


def test_completions_due_together_happen_in_the_order_their_processes_were_created(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.db"
    traffic = [
        _template(1, auto_execute=1, duration=3600),
        _create("crm.deal:9", 0),  # its process is created first ...
        _create("crm.deal:10", 0),  # ... though "crm.deal:10" sorts first by name
        _create("crm.deal:11", 61),
    ]

    decisions_of(traffic, str(store))

    with _store(store) as app:
        log = app.recorder.select_notifications(start=1, limit=1000)
        events = [app.mapper.to_domain_event(n) for n in log]
    completed = [e.process for e in events if isinstance(e, Element.ProcessCompleted)]
    assert completed == ["crm.deal:9#1", "crm.deal:10#1"]
