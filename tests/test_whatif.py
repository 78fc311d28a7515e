"""What-if replays: the diff equals an independent replay of the hand-changed traffic."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from replaying import as_lines, at, autostart, decisions_of

from simulations.overrides import ChangedTraffic
from simulations.traffic import BadLineError
from simulations.whatif import (
    ChangedLineError,
    OverrideError,
    Tally,
    WhatIfDiff,
    parse_setting,
    whatif,
    whatif_frame,
)

Decision = dict[str, Any]
Edit = Callable[[list[str]], tuple[list[str], int]]
EXAMPLE = resources.files("simulations").joinpath("examples", "portal.jsonl").read_text()
LIVE = ("started", "queued")
TOTALS = ("gained", "lost", "outcome_changed", "reason_changed", "only_recorded", "only_changed")


@pytest.fixture(scope="module")
def traffics() -> dict[str, list[str]]:
    generated = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "generate", "typical-cloud", "--lines", "2000"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {"example": EXAMPLE.splitlines(), "generated": generated.stdout.splitlines()}


@pytest.fixture(scope="module")
def recorded(traffics: dict[str, list[str]]) -> dict[str, list[Decision]]:
    return {name: decisions_of(lines) for name, lines in traffics.items()}


# The traffic changed by hand, as an administrator would edit the file


def replaced(lines: list[str], marker: str, old: str, new: str) -> list[str]:
    """`old` replaced by `new` on every line holding `marker`; at least one must change."""
    edited = [line.replace(old, new) if marker in line else line for line in lines]
    assert edited != lines, f"no line holding {marker} gives {old}"
    return edited


def template_line(number: int) -> str:
    return f'"op":"template","template":{number},'


def auto_execute_of_template_11_as_on_add_only(lines: list[str]) -> tuple[list[str], int]:
    return replaced(lines, template_line(11), '"auto_execute":3', '"auto_execute":1'), 0


def auto_execute_of_template_12_as_on_add_only(lines: list[str]) -> tuple[list[str], int]:
    # Created on add only, later switched to both: the later line is edited back.
    return replaced(lines, template_line(12), '"auto_execute":3', '"auto_execute":1'), 0


def template_13_active(lines: list[str]) -> tuple[list[str], int]:
    return replaced(lines, template_line(13), '"active":false', '"active":true'), 0


def plan_basic(lines: list[str]) -> tuple[list[str], int]:
    edited = replaced(lines, '"op":"portal"', '"plan":"professional"', '"plan":"basic"')
    return ['{"op":"portal","plan":"basic"}', *edited], 1


def limit_one(lines: list[str]) -> tuple[list[str], int]:
    # The first portal line names the edition: it keeps the limit of 1 too.
    edited = replaced(
        lines,
        '"op":"portal"',
        '"edition":"cloud"',
        '"edition":"cloud","limit_simultaneous_processes":1',
    )
    return ['{"op":"portal","limit_simultaneous_processes":1}', *edited], 1


def feed_list_without_processes(lines: list[str]) -> tuple[list[str], int]:
    edited = [
        line.replace('"bizproc_enabled":true', '"bizproc_enabled":false')
        if '"document_type":"feed.iblock_22"' in line and '"op":"container"' in line
        else line
        for line in lines
    ]
    first = '{"op":"container","document_type":"feed.iblock_22","bizproc_enabled":false}'
    return [first, *edited], 1


@dataclass(frozen=True)
class Case:
    traffic: str
    setting: str
    edit: Edit
    changes_something: bool = True


CASES = [
    Case("example", "template.11.auto_execute=1", auto_execute_of_template_11_as_on_add_only),
    Case("example", "template.13.active=true", template_13_active),
    Case("example", "portal.plan=basic", plan_basic),
    Case("example", "portal.limit_simultaneous_processes=1", limit_one),
    Case("example", "container.feed.iblock_22.bizproc_enabled=false", feed_list_without_processes),
    Case("generated", "template.12.auto_execute=1", auto_execute_of_template_12_as_on_add_only),
    Case("generated", "template.13.active=true", template_13_active),
    Case("generated", "portal.plan=basic", plan_basic),
    Case("generated", "portal.limit_simultaneous_processes=1", limit_one),
    # The generated traffic has no Feed list: the override changes nothing there.
    Case(
        "generated",
        "container.feed.iblock_22.bizproc_enabled=false",
        feed_list_without_processes,
        changes_something=False,
    ),
]


# The difference computed directly from the two decision lists


@dataclass
class Expected:
    totals: Counter[str] = field(default_factory=Counter)
    groups: dict[str, dict[Any, Counter[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )
    examples: dict[tuple[str, Any, str], set[tuple[str, int]]] = field(
        default_factory=lambda: defaultdict(set)
    )


def created_in_cascades(decisions: list[Decision]) -> dict[tuple[int, str], tuple[str, int]]:
    """(line, element) of each element a line's processes created, to (type, nth of the type)."""
    first: dict[tuple[int, str], Decision] = {}
    for decision in decisions:
        first.setdefault((decision["line"], decision["element"]), decision)
    nth: Counter[tuple[int, str]] = Counter()
    names = {}
    for (line, element), decision in first.items():
        if (decision["trigger"], decision["channel"]) == ("add", "bizproc"):
            document_type = element.split(":")[0]
            names[(line, element)] = (document_type, nth[(line, document_type)])
            nth[(line, document_type)] += 1
    return names


def by_occurrence(decisions: list[Decision], shift: int) -> dict[tuple[Any, ...], Decision]:
    keyed: dict[tuple[Any, ...], Decision] = {}
    seen: Counter[tuple[Any, ...]] = Counter()
    created = created_in_cascades(decisions)
    for decision in decisions:
        line, element = decision["line"], decision["element"]
        base = (
            line - shift,
            decision["depth"],
            created.get((line, element), element),
            decision["trigger"],
            decision["template"],
        )
        keyed[(*base, seen[base])] = decision
        seen[base] += 1
    return keyed


def expected_difference(recorded: list[Decision], changed: list[Decision], shift: int) -> Expected:
    before, after = by_occurrence(recorded, 0), by_occurrence(changed, shift)
    expected = Expected()
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old is None:
            expected.totals["only_changed"] += 1
        elif new is None:
            expected.totals["only_recorded"] += 1
        else:
            expected.totals["outcome_changed"] += old["outcome"] != new["outcome"]
            expected.totals["reason_changed"] += old["reason"] != new["reason"]
        was = old is not None and old["outcome"] in LIVE
        now = new is not None and new["outcome"] in LIVE
        if was == now:
            continue
        direction, live, other = ("gained", new, old) if now else ("lost", old, new)
        assert live is not None
        expected.totals[direction] += 1
        for grouping, name in (
            ("template", live["template"]),
            ("channel", live["channel"]),
            ("reason", None if other is None else other["reason"]),
        ):
            expected.groups[grouping][name][direction] += 1
            expected.examples[(grouping, name, direction)].add((live["element"], key[0]))
    return expected


def counts(groups: dict[Any, Tally]) -> dict[Any, Counter[str]]:
    return {
        name: Counter(gained=tally.gained, lost=tally.lost) + Counter()
        for name, tally in groups.items()
    }


def assert_same_difference(diff: WhatIfDiff, expected: Expected, examples: int = 3) -> None:
    totals = {name: getattr(diff, name) for name in TOTALS}
    assert totals == {name: expected.totals[name] for name in TOTALS}
    assert counts(diff.by_template) == expected.groups["template"]
    assert counts(diff.by_channel) == expected.groups["channel"]
    assert counts(diff.by_reason) == expected.groups["reason"]
    for grouping, groups in (
        ("template", diff.by_template),
        ("channel", diff.by_channel),
        ("reason", diff.by_reason),
    ):
        for name, tally in groups.items():
            for direction, shown in (
                ("gained", tally.gained_examples),
                ("lost", tally.lost_examples),
            ):
                possible = expected.examples[(grouping, name, direction)]
                elements = {element for element, _ in possible}
                assert {(e.element, e.line) for e in shown} <= possible
                assert len({e.element for e in shown}) == len(shown)
                assert len(shown) == min(examples, len(elements))


# What-if against the independent replay


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.traffic}:{case.setting}")
def test_the_diff_is_what_a_replay_of_the_hand_changed_traffic_gives(
    case: Case, traffics: dict[str, list[str]], recorded: dict[str, list[Decision]]
) -> None:
    lines = traffics[case.traffic]
    changed_lines, shift = case.edit(lines)
    changed = decisions_of(changed_lines)
    expected = expected_difference(recorded[case.traffic], changed, shift)

    diff = whatif(lambda: iter(lines), [parse_setting(case.setting)])

    assert_same_difference(diff, expected)
    assert diff.recorded_decisions == len(recorded[case.traffic])
    assert diff.changed_decisions == len(changed)
    assert diff.lines == len(lines)
    assert diff.empty is not case.changes_something


def test_activating_a_template_gains_its_processes_on_every_change_of_the_example() -> None:
    diff = whatif(EXAMPLE.splitlines, [parse_setting("template.13.active=true")])

    # The form edits of lines 13 and 19; legacy REST (lines 14, 32) starts it inactive or not.
    assert (diff.gained, diff.lost) == (2, 0)
    assert list(diff.by_template) == [13]
    assert list(diff.by_reason) == ["TEMPLATE_INACTIVE"]
    assert list(diff.by_channel) == ["ui"]
    assert [(e.element, e.line) for e in diff.by_channel["ui"].gained_examples] == [
        ("crm.deal:101", 13)
    ]


def test_elements_a_cascade_creates_match_across_runs_whatever_their_ids() -> None:
    # Without template 1, the company's cascade creates no lead, so the deal's cascade creates
    # crm.lead:1 instead of crm.lead:2: the same process on the same line, not one lost and
    # one gained.
    def template(number: int, document_type: str, **more: Any) -> dict[str, Any]:
        line = {"op": "template", "template": number, "document_type": document_type}
        return {**line, "auto_execute": 1, **more}

    def create(element: str, minutes: float) -> dict[str, Any]:
        return {"op": "create", "at": at(minutes), "element": element, "channel": "ui"}

    traffic = as_lines(
        [
            {"op": "portal", "start_bp_within_bp": True},
            template(1, "crm.company", actions=[{"create": "crm.lead"}]),
            template(2, "crm.deal", actions=[{"create": "crm.lead"}]),
            template(3, "crm.lead"),
            create("crm.company:1", 0),
            create("crm.deal:1", 1),
        ]
    )
    created = [(d["line"], d["element"]) for d in decisions_of(traffic) if d["template"] == 3]
    assert created == [(5, "crm.lead:1"), (6, "crm.lead:2")]

    diff = whatif(lambda: iter(traffic), [parse_setting("template.1.active=false")])

    assert (diff.gained, diff.lost, diff.only_recorded, diff.only_changed) == (0, 2, 1, 0)
    assert {template: tally.lost for template, tally in diff.by_template.items()} == {1: 1, 3: 1}
    assert [(e.element, e.line) for e in diff.by_template[3].lost_examples] == [("crm.lead:1", 5)]


def test_the_frame_lists_each_change_s_gains_and_losses_per_group() -> None:
    diffs = {
        "active": whatif(EXAMPLE.splitlines, [parse_setting("template.13.active=true")]),
        "nothing": whatif(EXAMPLE.splitlines, [parse_setting("template.13.duration=0")]),
    }

    frame = whatif_frame(diffs, by="template")

    assert frame.index.names == ["change", "template"]
    assert frame.to_dict("index")[("active", 13)] == {"gained": 2, "lost": 0}
    assert "nothing" not in frame.index.get_level_values("change")


def test_a_settings_line_put_first_does_not_shift_the_line_numbers_reported() -> None:
    diff = whatif(EXAMPLE.splitlines, [parse_setting("portal.plan=basic")])

    assert diff.lost == 15
    assert set(diff.by_reason) == {"FEATURE_DISABLED"}
    assert [(e.element, e.line) for e in diff.by_template[41].lost_examples] == [
        ("disk.storage_1:5120", 23)
    ]
    assert diff.only_recorded == 1  # the lead's own update, made by template 21's action


@pytest.mark.parametrize(
    "settings",
    [
        ["template.11.auto_execute=3"],
        ["portal.edition=cloud", "portal.licence=paid"],
        ["container.feed.iblock_22.bizproc_enabled=true"],
        ["template.13.active=false", "portal.limit_simultaneous_processes=2"],
    ],
)
def test_an_override_that_changes_nothing_gives_an_empty_diff(settings: list[str]) -> None:
    diff = whatif(EXAMPLE.splitlines, [parse_setting(s) for s in settings])

    assert diff.empty
    assert (diff.gained, diff.lost) == (0, 0)
    assert (diff.by_template, diff.by_channel, diff.by_reason) == ({}, {}, {})


def test_a_queued_instance_starting_later_is_compared_under_the_line_that_queued_it() -> None:
    traffic = as_lines([
        {"op": "portal", "limit_simultaneous_processes": 1},
        {"op": "template", "template": 1, "document_type": "crm.deal", "auto_execute": 3,
         "duration": 3600, "actions": [{"create": "crm.lead"}]},
        {"op": "template", "template": 2, "document_type": "crm.lead", "auto_execute": 1},
        {"op": "create", "at": at(0), "element": "crm.deal:1", "channel": "ui"},
        {"op": "update", "at": at(1), "element": "crm.deal:1", "channel": "ui",
         "changed": {"A": 1}},
        {"op": "create", "at": at(2), "element": "crm.deal:2", "channel": "ui"},
        {"op": "create", "at": at(90), "element": "crm.deal:3", "channel": "ui"},
    ])  # fmt: skip
    recorded = decisions_of(traffic)
    changed = decisions_of(['{"op":"portal","start_bp_within_bp":true}', *traffic])
    lines_in_order_made = [d["line"] for d in recorded]
    assert lines_in_order_made != sorted(lines_in_order_made)  # line 5's queued start runs late

    diff = whatif(lambda: traffic, [parse_setting("portal.start_bp_within_bp=true")])

    assert_same_difference(diff, expected_difference(recorded, changed, 1))
    assert diff.gained == 4
    assert {e.line for e in diff.by_template[2].gained_examples} >= {5}


def test_an_override_of_a_template_no_line_creates_is_reported_unused() -> None:
    settings = ["template.99.active=false", "template.11.duration=0"]

    diff = whatif(EXAMPLE.splitlines, [parse_setting(s) for s in settings])

    assert diff.unused == ("template.99.active=false",)


# Reading settings


@pytest.mark.parametrize(
    ("setting", "scope", "target", "key", "value"),
    [
        ("template.11.auto_execute=3", "template", 11, "auto_execute", 3),
        ("template.13.active=true", "template", 13, "active", True),
        ("template.12.duration=600", "template", 12, "duration", 600),
        ("template.31.parameters=[]", "template", 31, "parameters", []),
        (
            'template.12.constants=[{"name":"Approver","required":true,"value":null}]',
            "template",
            12,
            "constants",
            [{"name": "Approver", "required": True, "value": None}],
        ),
        ('template.21.actions=[{"create":"crm.deal"}]', "template", 21, "actions",
         [{"create": "crm.deal"}]),
        ("portal.plan=basic", "portal", None, "plan", "basic"),
        ('portal.plan="basic"', "portal", None, "plan", "basic"),
        ("portal.limit_simultaneous_processes=0", "portal", None,
         "limit_simultaneous_processes", 0),
        ("portal.features.bizproc=false", "portal", None, "features.bizproc", False),
        ("portal.edition=on_premise", "portal", None, "edition", "on_premise"),
        ("container.feed.iblock_22.bizproc_enabled=false", "container", "feed.iblock_22",
         "bizproc_enabled", False),
        ("container.disk.storage_1.bizproc_enabled=true", "container", "disk.storage_1",
         "bizproc_enabled", True),
    ],
)  # fmt: skip
def test_a_setting_is_read_as_json_else_as_a_string(
    setting: str, scope: str, target: object, key: str, value: object
) -> None:
    override = parse_setting(setting)

    assert (override.scope, override.target, override.field, override.value) == (
        scope,
        target,
        key,
        value,
    )
    assert override.setting == setting


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("template.11.auto_execute=9", "auto_execute: expected an integer from 0 to 3, got 9"),
        ("template.11.auto_execute=on", "auto_execute: expected an integer from 0 to 3"),
        ("template.11.active=1", "active: expected true or false, got 1"),
        ("template.0.active=true", "template: expected an integer from 1 to 2147483647, got 0"),
        ("template.x.active=true", "expected template.<id>.<field>"),
        ("template.11.document_type=crm.lead", "expected a template field: auto_execute"),
        ("template.11.parameters=[1]", "parameters[0]: expected a JSON object"),
        ('template.11.actions=[{"delete":1}]', "actions[0]: expected an object"),
        ("portal.plan=gold", "plan: expected one of free, basic"),
        (
            "portal.limit_simultaneous_processes=-1",
            "expected an integer from 0 to 2147483647, got -1",
        ),
        ("portal.features.workflows=true", "expected a portal key: edition"),
        ("portal.actor=admin", "expected a portal key"),
        ("portal.features.bizproc=yes", "features.bizproc: expected true or false"),
        ("container.crm.deal.bizproc_enabled=false", "expected a feed.iblock_N, lists.iblock_N"),
        ("container.feed.iblock_22.active=false", "expected container.<document type>."),
        ("container.feed.iblock_22.bizproc_enabled=0", "expected true or false, got 0"),
        ("plan=basic", "expected a key starting with template., portal. or container."),
        ("portal.plan", "expected KEY=VALUE"),
    ],
)
def test_a_bad_setting_is_refused_naming_it_and_what_was_expected(
    setting: str, expected: str
) -> None:
    with pytest.raises(OverrideError) as refused:
        parse_setting(setting)

    assert str(refused.value).startswith(repr(setting) + ": ")
    assert expected in str(refused.value)


def test_a_key_set_twice_is_refused() -> None:
    overrides = [parse_setting("portal.plan=basic"), parse_setting("portal.plan=free")]

    with pytest.raises(OverrideError, match=r"portal\.plan is already set by"):
        whatif(EXAMPLE.splitlines, overrides)


# Rewriting the traffic


def test_the_traffic_is_rewritten_as_it_streams() -> None:
    read: list[int] = []

    def endless() -> Iterator[str]:
        number = 0
        while True:
            number += 1
            read.append(number)
            yield '{"op":"portal","plan":"professional"}'

    changed = ChangedTraffic([parse_setting("portal.plan=basic")])

    first = list(islice(changed.lines(endless()), 3))

    assert first == ['{"op":"portal","plan":"basic"}'] * 3
    assert read == [1, 2]


def test_every_line_setting_an_overridden_key_gets_its_value() -> None:
    overrides = [
        parse_setting(s)
        for s in (
            "portal.features.bizproc=false",
            "portal.limit_policy=reject",
            "template.12.auto_execute=1",
            "container.feed.iblock_22.bizproc_enabled=false",
        )
    ]
    traffic = [
        '{"op":"portal","plan":"standard"}',  # a plan resets the features: it gets it too
        '{"op":"portal","edition":"on_premise"}',  # an edition resets the policy
        '{"op":"portal","features":{"lists_processes":true}}',
        '{"op":"template","template":12,"document_type":"crm.deal","auto_execute":3}',
        '{"op":"template","template":12,"active":false}',
        '{"op":"template","template":12,"auto_execute":2}',
        '{"op":"template","template":13,"document_type":"crm.deal","auto_execute":2}',
        '{"op":"container","document_type":"feed.iblock_22","bizproc_enabled":true}\n',
        '{"op":"container","document_type":"feed.iblock_23","bizproc_enabled":true}',
        "",
    ]

    changed = list(ChangedTraffic(overrides).lines(traffic))

    assert [json.loads(line) if line else line for line in changed] == [
        {"op": "portal", "features": {"bizproc": False}, "limit_policy": "reject"},
        {"op": "container", "document_type": "feed.iblock_22", "bizproc_enabled": False},
        {"op": "portal", "plan": "standard", "features": {"bizproc": False}},
        {"op": "portal", "edition": "on_premise", "limit_policy": "reject"},
        {"op": "portal", "features": {"lists_processes": True}},
        {"op": "template", "template": 12, "document_type": "crm.deal", "auto_execute": 1},
        {"op": "template", "template": 12, "active": False},
        {"op": "template", "template": 12, "auto_execute": 1},
        {"op": "template", "template": 13, "document_type": "crm.deal", "auto_execute": 2},
        {"op": "container", "document_type": "feed.iblock_22", "bizproc_enabled": False},
        {"op": "container", "document_type": "feed.iblock_23", "bizproc_enabled": True},
        "",
    ]
    assert changed[4] is traffic[2]  # lines left alone are passed on as they were
    assert changed[9].endswith("\n")


# Bad traffic


def test_bad_traffic_is_refused_with_its_line_and_field() -> None:
    traffic = ['{"op":"portal"}', '{"op":"create","element":"crm.deal:1","channel":"ui"}']

    with pytest.raises(BadLineError, match=r"^line 2, field 'at'"):
        whatif(lambda: traffic, [parse_setting("portal.plan=basic")])


def test_a_line_refused_only_with_the_override_keeps_its_own_line_number() -> None:
    traffic = [
        '{"op":"template","template":1,"document_type":"crm.deal","auto_execute":1}',
        f'{{"op":"create","at":"{at(0)}","element":"crm.deal:1","channel":"email"}}',
    ]

    with pytest.raises(ChangedLineError) as refused:
        whatif(lambda: traffic, [parse_setting("portal.email_integration=false")])

    assert refused.value.line == 2
    assert refused.value.field == "channel"
    assert "refused only with portal.email_integration=false" in str(refused.value)


# The command line


@pytest.fixture
def example_file(tmp_path: Path) -> str:
    path = tmp_path / "portal.jsonl"
    path.write_text(EXAMPLE)
    return str(path)


def test_whatif_prints_the_gains_and_losses_as_a_table(example_file: str) -> None:
    code, out, err = autostart("whatif", example_file, "--set", "template.13.active=true")

    assert (code, err) == (0, "")
    assert "processes (started or queued): 2 gained, 0 lost" in out
    rows = [line.split() for line in out.splitlines()]
    assert ["13", "2", "0", "gained:", "crm.deal:101", "(line", "13)"] in rows
    assert ["TEMPLATE_INACTIVE", "2", "0", "gained:", "crm.deal:101", "(line", "13)"] in rows
    assert ["ui", "2", "0", "gained:", "crm.deal:101", "(line", "13)"] in rows


def test_whatif_says_so_when_nothing_changes(example_file: str) -> None:
    code, out, _ = autostart("whatif", example_file, "--set", "template.11.auto_execute=3")

    assert code == 0
    assert out.splitlines()[-1] == "no difference: every decision has the same outcome and reason"


def test_whatif_json_holds_the_whole_difference(example_file: str) -> None:
    code, out, _ = autostart(
        "whatif",
        example_file,
        "--set",
        "portal.plan=basic",
        "--set",
        "template.13.active=true",
        "--json",
        "--examples",
        "1",
    )

    report = json.loads(out)
    assert code == 0
    assert report["settings"] == ["portal.plan=basic", "template.13.active=true"]
    assert (report["gained"], report["lost"], report["lines"]) == (0, 15, 33)
    assert report["by_reason"] == [
        {
            "reason": "FEATURE_DISABLED",
            "gained": 0,
            "lost": 15,
            "gained_examples": [],
            "lost_examples": [{"element": "crm.deal:101", "line": 11}],
        }
    ]
    assert [row["template"] for row in report["by_template"]] == [11, 12, 13, 21, 31, 41, 42]


@pytest.mark.slow
def test_whatif_in_memory_gives_the_same_difference_as_on_disk(
    traffics: dict[str, list[str]], tmp_path: Path
) -> None:
    path = tmp_path / "generated.jsonl"
    path.write_text("\n".join(traffics["generated"]) + "\n")
    args = ["whatif", str(path), "--set", "portal.plan=basic", "--json"]

    on_disk = autostart(*args)
    in_memory = autostart(*args, "--in-memory")

    assert on_disk[0] == in_memory[0] == 0
    assert json.loads(in_memory[1]) == json.loads(on_disk[1])
    assert json.loads(on_disk[1])["lost"] > 0


def test_whatif_keeps_one_scratch_store_at_a_time_and_none_behind(
    example_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    stores: dict[str, set[str]] = defaultdict(set)

    def watch(run: str, _lines: int) -> None:
        stores[run].update(path.name for path in scratch.rglob("*.db"))

    diff = whatif(
        lambda: iter(EXAMPLE.splitlines()),
        [parse_setting("template.13.active=true")],
        on_progress=watch,
    )

    assert diff.gained == 2
    # One store on disk at a time (beside the decisions' spool): the recorded run's is gone
    # before the changed run starts.
    assert stores == {
        "recorded": {"recorded.db", "decisions.db"},
        "changed": {"changed.db", "decisions.db"},
    }
    assert list(scratch.iterdir()) == []


def test_whatif_reads_the_traffic_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(EXAMPLE.encode())))

    code, out, _ = autostart("whatif", "-", "--set", "template.13.active=true", "--json")

    assert code == 0
    # Lines 13 and 19 (form edits); the REST updates start template 13 inactive or not.
    assert json.loads(out)["gained"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "template.11.colour=1"], "--set 'template.11.colour=1': expected a template"),
        (["--set", "portal.plan=gold"], "--set 'portal.plan=gold': plan: expected one of"),
        (["--set", "portal.plan=basic", "--set", "portal.plan=free"], "already set by"),
        (["--set", "portal.plan=basic", "--examples", "-1"], "--examples -1: expected"),
    ],
)
def test_whatif_refuses_a_bad_setting_with_exit_status_2(
    example_file: str, args: list[str], message: str
) -> None:
    code, out, err = autostart("whatif", example_file, *args)

    assert (code, out) == (2, "")
    assert err.startswith("autostart whatif: ")
    assert message in err


def test_whatif_refuses_bad_traffic_with_exit_status_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"op":"portal"}\n{"op":"create","element":"crm.deal:1","channel":"ui"}\n')

    code, out, err = autostart("whatif", str(path), "--set", "portal.plan=basic")

    assert (code, out) == (2, "")
    assert err == (
        f"autostart whatif: {path} line 2, field 'at': expected a time (required on create lines)\n"
    )


def test_whatif_runs_as_a_command(example_file: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "whatif", example_file, "--set", "nokey"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert finished.returncode == 2
    assert finished.stderr == (
        "autostart whatif: --set 'nokey': expected KEY=VALUE, "
        "e.g. template.11.auto_execute=3, portal.plan=basic\n"
    )
