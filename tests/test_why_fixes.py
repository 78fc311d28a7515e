"""`why`'s suggestions: each one, applied with `whatif --set`, starts the very decision it names."""

from __future__ import annotations

import json
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from auditing import audit, verdict
from hypothesis import HealthCheck, example, given, note, settings
from replaying import as_lines, at, autostart, replay_into
from test_why import TRAFFIC

from domain.starter import MAX_CASCADE_DEPTH
from domain.stores import parse_store
from domain.vocabulary import Reason
from projections.database import ReadDatabase
from projections.explain import Query, explain
from projections.frames import decisions_frame
from projections.runner import catch_up
from projections.suggestions import INSTEAD, attach_fixes
from simulations.cli import main
from simulations.cli.fix import recorded_line
from simulations.overrides import parse_setting
from simulations.replay import open_store
from simulations.strategies import traffic
from simulations.suggest import replayed, target_of

NOT_STARTED = sorted(set(Reason) - {Reason.AUTO_ON_ADD, Reason.AUTO_ON_CHANGE})
# Reasons no configuration lifts, whatever the settings: the SPEC's channel rules.
UNLIFTABLE = {
    "CHANNEL_IMPORT",
    "CHANNEL_ROBOT_CONVERSION",
    "CHANNEL_SYSTEM",
    "CHANNEL_DIRECT_API",
    "TRIGGER_STAGE_CHANGE",
    "NO_CHANGES",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The traffic of `test_why`, which gives every reason code, replayed into SQLite."""
    path = str(tmp_path_factory.mktemp("fixes") / "store.db")
    app = open_store(parse_store(path))
    db = ReadDatabase(parse_store(path))
    try:
        replay_into(app, TRAFFIC)
        catch_up(app, db)
    finally:
        db.close()
        app.close()
    return path


def fixed(store: str, reason: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The first decision with `reason`: its change, the decision with its fixes, its line."""
    db = ReadDatabase(parse_store(store))
    try:
        row = db.query("SELECT element FROM decisions WHERE reason = ? ORDER BY id", (reason,))[0]
        explained = explain(db, Query(row["element"]))
        attach_fixes(db, explained)
        change, decision = next(
            (c, d) for c in explained["changes"] for d in c["decisions"] if d["reason"] == reason
        )
        return change, decision, recorded_line(db, change["line"])
    finally:
        db.close()


@pytest.mark.parametrize("reason", NOT_STARTED)
def test_each_suggestion_replayed_with_whatif_starts_that_very_decision(
    store: str, reason: str
) -> None:
    _, decision, line = fixed(store, reason)
    target = target_of(line, next(d for d in line if d["id"] == decision["fixes"]["decision_id"]))

    suggestions = decision["fixes"]["suggestions"]
    replays = [
        replayed(as_lines(TRAFFIC), [parse_setting(s) for s in suggestion["set"]], target)
        for suggestion in suggestions
    ]

    if reason in UNLIFTABLE:
        assert suggestions == []
        said = decision["fixes"]["no_configuration"]
        assert said["reason"] == reason
        assert said["instead"]
        assert said["confidence"] in ("C", "I")
        assert said["source"]
    else:
        assert suggestions, f"{reason}: no suggestion"
        for suggestion, now in zip(suggestions, replays, strict=True):
            assert now is not None, suggestion["set"]
            assert (now["outcome"], now["reason"]) == ("started", suggestion["reason"]), suggestion[
                "set"
            ]


def test_suggestions_come_one_setting_before_two(store: str) -> None:
    sizes = [len(s["set"]) for s in fixed(store, "LIMIT_QUEUED")[1]["fixes"]["suggestions"]]

    assert sizes == sorted(sizes)
    assert sizes[0] == 1


def test_channel_inner_in_crm_is_lifted_by_start_bp_within_bp_with_the_loop_warning(
    tmp_path: Path,
) -> None:
    # A deal template that changes its own deal on change: switched on, it would loop.
    lines: list[dict[str, Any]] = [
        {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3,
         "actions": [{"update": {"STAGE_ID": "NEW"}}]},
        {"op": "create", "at": at(0), "element": "crm.deal:1", "channel": "robot"},
    ]  # fmt: skip
    store = str(tmp_path / "loop.db")
    app = open_store(parse_store(store))
    db = ReadDatabase(parse_store(store))
    try:
        replay_into(app, lines)
        catch_up(app, db)
        explained = explain(db, Query("crm.deal:1"))
        attach_fixes(db, explained)
    finally:
        db.close()
        app.close()

    fixes = explained["changes"][0]["decisions"][0]["fixes"]

    assert [s["set"] for s in fixes["suggestions"]] == [["portal.start_bp_within_bp=true"]]
    assert "loop" in fixes["suggestions"][0]["warning"]


def test_every_unliftable_rule_names_what_to_do_instead() -> None:
    assert all(ways and all(way.strip() for way in ways) for ways in INSTEAD.values())


def test_why_text_numbers_the_fixes_and_fix_n_replays_one_over_the_traffic(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = tmp_path / "traffic.jsonl"
    traffic.write_text("\n".join(as_lines(TRAFFIC)) + "\n")

    assert main(["why", "crm.deal:101", "--store", store, "--template", "14"]) == 0
    text = capsys.readouterr().out
    code = main(
        ["why", "crm.deal:101", "--store", store, "--template", "14", "--fix", "1",
         "--traffic", str(traffic), "--json"]
    )  # fmt: skip
    replay = json.loads(capsys.readouterr().out)

    assert "would start with fix #1: --set template.14.auto_execute=3 --set 'template.14." in text
    assert code == 0
    assert replay["recorded"]["reason"] == "NOT_ON_ADD"
    assert replay["replayed"] == {"outcome": "started", "reason": "AUTO_ON_ADD"}
    assert replay["starts"] is True
    assert replay["whatif"]["gained"] >= 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fix", "1"], "--fix N needs --traffic FILE"),
        (["--traffic", "x.jsonl"], "--traffic FILE goes with --fix N"),
        (["--fix", "0", "--traffic", "x.jsonl"], "expected a suggestion number from 1"),
        (["--fix", "1", "--traffic", "nowhere.jsonl"], "no such traffic file"),
    ],
)
def test_fix_options_refused_exit_2_saying_why(
    store: str, args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["why", "crm.deal:101", "--store", store, *args])
    err = capsys.readouterr().err

    assert code == 2
    assert says in err


def test_fix_with_an_unknown_number_says_which_ones_exist(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = tmp_path / "traffic.jsonl"
    traffic.write_text("\n".join(as_lines(TRAFFIC)) + "\n")

    code = main(
        ["why", "crm.deal:101", "--store", store, "--fix", "999", "--traffic", str(traffic)]
    )

    assert code == 2
    assert "no such suggestion (shown: 1 to" in capsys.readouterr().err


# Found by this property: removing template 2's parameters would have started its process-made
# file's decision, but also stopped the upload's start that made that file.
CASCADE_PARENT = [
    {"op": "template", "template": 1, "document_type": "disk.storage_1", "auto_execute": 3},
    {"op": "template", "template": 2, "document_type": "disk.storage_1", "auto_execute": 3,
     "parameters": [{"name": "Amount"}], "actions": [{"create": "disk.storage_1"}]},
    {"op": "create", "at": at(0), "element": "disk.storage_1:1000000", "channel": "ui",
     "parameters": {"Amount": "100"}},
]  # fmt: skip


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(lines=traffic(max_lines=12))
@example(lines=CASCADE_PARENT)
def test_every_suggestion_applied_starts_the_decision_it_was_made_for(
    lines: list[dict[str, Any]],
) -> None:
    text = as_lines(lines)
    with TemporaryDirectory(prefix="fixes-") as folder:
        store = str(Path(folder) / "store.db")
        app = open_store(parse_store(store))
        db = ReadDatabase(parse_store(store))
        try:
            replay_into(app, text)
            catch_up(app, db)
            cases = []
            for row in db.query("SELECT DISTINCT element FROM decisions ORDER BY element"):
                explained = explain(db, Query(row["element"]))
                attach_fixes(db, explained)
                for change in explained["changes"]:
                    for decision in change["decisions"]:
                        for suggestion in decision.get("fixes", {}).get("suggestions", []):
                            line = recorded_line(db, change["line"])
                            mine = next(
                                d for d in line if d["id"] == decision["fixes"]["decision_id"]
                            )
                            cases.append((suggestion, target_of(line, mine)))
        finally:
            db.close()
            app.close()

    for suggestion, target in cases[:8]:  # each a replay: bounded for CI
        note(f"{target}: {suggestion['set']}")
        overrides = [parse_setting(s) for s in suggestion["set"]]
        # A warned cascade may grow a tree of creations 20 deep: replayed shallower, where
        # the decisions up to that depth are the same, unless a halt cut them off.
        depth = 3 if suggestion["warning"] else MAX_CASCADE_DEPTH
        now = replayed(text, overrides, target, max_depth=depth)
        if now is None:  # only a cascade halted before it may leave it undecided
            assert suggestion["warning"], suggestion
            continue
        assert (now["outcome"], now["reason"]) == ("started", suggestion["reason"])


def test_an_excluded_verdict_of_a_portal_audit_says_what_would_have_started_it(
    tmp_path: Path,
) -> None:
    snapshot = tmp_path / "snapshot"
    assert autostart("portal", "example", str(snapshot))[0] == 0

    summary = audit(snapshot, tmp_path / "audit.db")
    inactive = verdict(summary, "crm.deal:102", 14, "add")
    imported = verdict(summary, "crm.lead:6", 21, "add")
    kinds = {v["verdict"] for v in summary["verdicts"] if v["fixes"] is not None}

    assert ["template.14.active=true"] in [s["set"] for s in inactive["fixes"]["suggestions"]]
    assert imported["fixes"]["suggestions"] == []
    assert imported["fixes"]["no_configuration"]["reason"] == "CHANNEL_IMPORT"
    assert kinds == {"excluded"}


def test_decisions_frame_has_the_suggestions_as_a_column_when_asked(store: str) -> None:
    frame = decisions_frame(store, fixes=True)
    plain = decisions_frame(store)

    started = frame["outcome"] == "started"
    assert "fixes" not in plain
    assert frame.loc[started, "fixes"].isna().all()
    assert frame.loc[~started, "fixes"].notna().all()
    imported = frame.loc[frame["reason"] == "CHANNEL_IMPORT", "fixes"]
    assert (imported == "no configuration starts it (CHANNEL_IMPORT)").all()
    inactive = frame.loc[frame["reason"] == "TEMPLATE_INACTIVE", "fixes"]
    assert inactive.str.contains("--set template.13.active=true").all()
