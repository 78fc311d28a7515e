"""The exclusion checker: clean scenarios pass, every planted fault is caught, tampering shows."""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from replaying import at, replay_into

from domain.faults import FAULTS
from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.runner import catch_up
from simulations import checker
from simulations.checker import LAWS, Violation, check_store
from simulations.cli import main
from simulations.replay import open_store
from simulations.scenario import load, shipped
from simulations.simulate import simulate

Line = dict[str, Any]
Ledger = Callable[[list[Line]], ReadDatabase]
DEAL = "crm.deal:1"

# Enough timed lines for every condition a scenario sets up to occur, and no more (speed).
EVENTS = {"typical-cloud": 2000, "on-premise-feed-drive": 2000, "heavy-import": 600,
          "loop-prone": 600}  # fmt: skip
# The shipped scenario that catches each fault, and the law that must report it.
CATCHES = {
    "imports-start": ("heavy-import", 300, "no_process_starts_from_an_import"),
    "process-changes-start": (
        "typical-cloud", 1000, "no_process_starts_from_a_process_made_change"),
    "inactive-templates-start": ("typical-cloud", 1000, "no_inactive_template_starts"),
    "limit-ignored": ("typical-cloud", 1000, "never_more_running_than_the_limit"),
    "queue-reversed": ("typical-cloud", 1000, "queued_instances_start_first_in_first_out"),
    "on-change-bit-ignored": (
        "typical-cloud", 1000, "templates_start_only_on_their_trigger_bit"),
    "rest-licence-ignored": (
        "typical-cloud", 1000, "no_process_starts_from_unlicensed_legacy_rest"),
    "drive-parameters-ignored": (
        "on-premise-feed-drive", 1000, "starts_follow_the_parameters_rule"),
    # The rules as they stood before the SPEC was checked against Bitrix's source.
    "robot-stage-moves-excluded": (
        "typical-cloud", 1000, "a_robot_change_is_a_process_made_change"),
    "legacy-rest-checks-everything": (
        "typical-cloud", 1000, "legacy_rest_checks_neither_active_nor_constants_nor_changes"),
    "mail-and-open-line-adds-in-background": (
        "on-premise-feed-drive", 1000, "never_more_running_than_the_limit"),
    "process-files-inner": (
        "on-premise-feed-drive", 1000, "a_file_a_process_creates_is_decided_like_an_upload"),
    "lists-rest-checks-switch-and-parameters": (
        "on-premise-feed-drive", 1000, "lists_rest_ignores_the_switch_and_the_parameters"),
    "constants-per-template": (
        "on-premise-feed-drive", 1000,
        "no_list_process_starts_while_its_list_has_untuned_constants"),
}  # fmt: skip


def _laws(violations: list[Violation]) -> Counter[str]:
    return Counter(v.law for v in violations)


def _template(template: int, document_type: str = "crm.deal", **config: Any) -> Line:
    base = {"op": "template", "template": template, "document_type": document_type}
    return {**base, "auto_execute": config.pop("auto_execute", 3), **config}


def _create(element: str, minutes: float, channel: str = "ui", **more: Any) -> Line:
    return {"op": "create", "at": at(minutes), "element": element, "channel": channel, **more}


def _update(element: str, minutes: float, channel: str = "ui", **more: Any) -> Line:
    line = {"op": "update", "at": at(minutes), "element": element, "channel": channel}
    return {**line, "changed": {"TITLE": f"edited at {minutes}"}, **more}


def _reported(law: Callable[..., Iterator[Violation]], db: ReadDatabase) -> list[Violation]:
    return list(law(db, 20))


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """Replays a few traffic lines into a SQLite store and hands back its projected ledger."""
    opened: list[ReadDatabase] = []

    def make(traffic: list[Line]) -> ReadDatabase:
        store = parse_store(str(tmp_path / f"store{len(opened)}.db"))
        app = open_store(store)
        try:
            replay_into(app, traffic)
            db = ReadDatabase(store)
            catch_up(app, db)
        finally:
            app.close()
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()


# Shipped scenarios and planted faults.


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(shipped()))
def test_every_shipped_scenario_simulates_without_a_violation(scenario: str) -> None:
    result = simulate(load(scenario), parse_store("memory:"), events=EVENTS[scenario])

    assert result.summary["decisions"] > 0
    assert [v.as_dict() for v in result.violations] == []


def test_every_fault_has_a_scenario_that_catches_it() -> None:
    assert set(CATCHES) == set(FAULTS)
    assert {name for name, _, _ in CATCHES.values()} <= set(shipped())
    assert {law for _, _, law in CATCHES.values()} <= {law.__name__ for law in LAWS}


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "scenario", "events", "law"),
                         [(fault, *caught) for fault, caught in CATCHES.items()])  # fmt: skip
def test_each_planted_fault_breaks_its_law(
    fault: str, scenario: str, events: int, law: str
) -> None:
    result = simulate(
        load(scenario), parse_store("memory:"), events=events, faults=frozenset({fault})
    )

    assert _laws(result.violations)[law] > 0, _laws(result.violations)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("scenario", ["typical-cloud", "on-premise-feed-drive"])
def test_the_checker_finds_the_same_on_postgresql_as_on_sqlite(
    scenario: str, postgres_url: str, tmp_path: Path
) -> None:
    every_fault = frozenset(FAULTS)

    found = [
        simulate(load(scenario), parse_store(address), events=300, faults=every_fault).violations
        for address in (postgres_url, str(tmp_path / "store.db"))
    ]

    assert found[0] == found[1]
    assert len(_laws(found[0])) >= 3


# The command line.


def test_faults_lists_every_fault_one_a_line_with_what_it_breaks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["faults"])

    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [row[0] for row in rows] == list(FAULTS)
    assert [row[1] for row in rows] == [fault.description for fault in FAULTS.values()]
    assert all(len(row[1]) > 15 for row in rows)


def test_simulate_with_a_planted_fault_exits_1_and_names_the_law(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["simulate", "heavy-import", "--store", "memory:", "--lines", "100"]

    code = main([*args, "--fault", "imports-start"])

    assert code == 1
    out = capsys.readouterr().out
    assert "no_process_starts_from_an_import: crm." in out
    assert "expected skipped, CHANNEL_IMPORT" in out


def test_check_on_a_clean_store_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "clean.db")
    assert main(["simulate", "typical-cloud", "--store", store, "--lines", "300"]) == 0
    capsys.readouterr()

    code = main(["check", "--store", store, "--json"])

    assert code == 0
    assert capsys.readouterr().out == ""


def test_the_checker_states_the_laws_without_the_rules_or_the_starter() -> None:
    modules = resources.files("simulations").joinpath("checker").iterdir()
    sources = [module.read_text() for module in modules if module.name.endswith(".py")]
    imported = {
        node.module
        for source in sources
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }

    assert len(sources) >= 5
    assert "simulations.checker.spec" in imported

    assert imported.isdisjoint({"domain.rules", "domain.starter", "domain.faults"})
    assert all(law.__doc__ and "\n" not in law.__doc__.strip() for law in checker.LAWS)


# Laws on hand-made ledgers, tampered with SQL.


def test_a_clean_hand_made_ledger_breaks_no_law(ledger: Ledger) -> None:
    db = ledger(
        [
            _template(11, duration=3600),
            _template(12, auto_execute=1),
            _create(DEAL, 0),
            _update(DEAL, 1),
            _update(DEAL, 2),
            _update(DEAL, 3),
            {"op": "import", "at": at(4), "document_type": "crm.deal", "file": "d.csv",
             "elements": ["crm.deal:2"]},
            {"op": "delete", "at": at(5), "element": DEAL},
        ]
    )  # fmt: skip

    assert check_store(db) == []


def test_a_process_started_by_an_import_is_reported(ledger: Ledger) -> None:
    db = ledger(
        [
            _template(11),
            {"op": "import", "at": at(0), "document_type": "crm.deal", "file": "d.csv",
             "elements": ["crm.deal:2"]},
        ]
    )  # fmt: skip
    db.execute("UPDATE decisions SET outcome = 'started', process = 'crm.deal:2#1'")

    [violation] = _reported(checker.no_process_starts_from_an_import, db)

    assert violation.element == "crm.deal:2"
    assert violation.event.startswith("decision ")
    assert "template 11, line 2" in violation.event
    assert violation.happened.startswith("started as crm.deal:2#1")


def test_a_start_beyond_the_limit_is_reported_by_event_ids(ledger: Ledger) -> None:
    db = ledger(
        [_template(11, duration=3600), _create(DEAL, 0), _update(DEAL, 1), _update(DEAL, 2)]
    )
    [queued] = db.query("SELECT process, decision FROM processes WHERE status = 'queued'")
    assert _reported(checker.never_more_running_than_the_limit, db) == []

    # As if the third instance had started at once, beside the two running ones.
    db.execute(
        "UPDATE processes SET status = 'running', started_id = ? WHERE process = ?",
        (queued["decision"], queued["process"]),
    )
    [violation] = _reported(checker.never_more_running_than_the_limit, db)

    assert violation.element == DEAL
    assert queued["process"] in violation.event
    assert violation.expected == "fewer than 2 running on the document at its start"
    assert violation.happened == "2 already running"


def test_the_limit_does_not_hold_back_on_premise_background_starts(ledger: Ledger) -> None:
    db = ledger(
        [
            {"op": "portal", "edition": "on_premise", "limit_simultaneous_processes": 1},
            _template(11, duration=3600),
            _create(DEAL, 0, "call"),
            _update(DEAL, 1, "call"),
            _update(DEAL, 2, "ui"),
        ]
    )

    assert db.query("SELECT outcome FROM decisions ORDER BY id") == [
        {"outcome": "started"}, {"outcome": "started"}, {"outcome": "rejected"},
    ]  # fmt: skip
    assert check_store(db) == []


def test_queued_instances_started_out_of_order_are_reported(ledger: Ledger) -> None:
    db = ledger(
        [
            _template(11, duration=60),
            _create(DEAL, 0),
            *(_update(DEAL, m) for m in (0.1, 0.2, 0.3, 0.4)),
            _update(DEAL, 30),
        ]
    )
    first, second, *_ = db.query(
        "SELECT process, started_id FROM processes WHERE queued_at IS NOT NULL "
        "AND started_id IS NOT NULL ORDER BY decision"
    )
    assert _reported(checker.queued_instances_start_first_in_first_out, db) == []

    for row, other in ((first, second), (second, first)):
        db.execute(
            "UPDATE processes SET started_id = ? WHERE process = ?",
            (other["started_id"], row["process"]),
        )
    [violation] = _reported(checker.queued_instances_start_first_in_first_out, db)

    assert second["process"] in violation.event
    assert violation.expected == f"{first['process']}, queued before it, to start first"


def test_a_queued_instance_left_waiting_with_a_free_slot_is_reported(ledger: Ledger) -> None:
    db = ledger(
        [_template(11, duration=3600), _create(DEAL, 0), _update(DEAL, 1), _update(DEAL, 2)]
    )
    assert _reported(checker.every_queued_instance_is_started_or_accounted_for, db) == []

    db.execute("UPDATE processes SET status = 'completed' WHERE process = ?", (f"{DEAL}#1",))
    [violation] = _reported(checker.every_queued_instance_is_started_or_accounted_for, db)

    assert violation.happened == "still queued at the end with 1 running"


def test_a_process_left_running_after_its_document_is_deleted_is_reported(
    ledger: Ledger,
) -> None:
    db = ledger(
        [
            _template(11, duration=3600),
            _create(DEAL, 0),
            _update(DEAL, 1),
            _update(DEAL, 2),
            {"op": "delete", "at": at(3), "element": DEAL},
        ]
    )
    statuses = db.query("SELECT status, end_reason FROM processes ORDER BY process")
    assert statuses == [
        {"status": "terminated", "end_reason": "DOCUMENT_DELETED"},
        {"status": "terminated", "end_reason": "DOCUMENT_DELETED"},
        {"status": "dropped", "end_reason": "DOCUMENT_DELETED"},
    ]
    assert check_store(db) == []

    db.execute(
        "UPDATE processes SET status = 'running', ended_id = NULL WHERE process = ?",
        (f"{DEAL}#2",),
    )
    [violation] = _reported(checker.nothing_runs_or_waits_on_a_deleted_document, db)

    assert violation.event.startswith(f"process {DEAL}#2 (template 11")
    assert violation.happened == "running"


def test_a_missing_or_doubled_decision_is_reported(ledger: Ledger) -> None:
    db = ledger([_template(11), _template(12), _create(DEAL, 0), _update(DEAL, 1)])
    created, updated = db.query("SELECT id FROM changes ORDER BY id")
    _, created_12, updated_11, _ = db.query("SELECT id FROM decisions ORDER BY id")
    assert _reported(checker.every_change_gets_one_decision_per_template, db) == []

    db.execute("DELETE FROM decisions WHERE id = ?", (created_12["id"],))
    db.execute(
        "INSERT INTO decisions SELECT id + 100000, line, depth, at, at_utc, element, "
        "document_type, revision, trigger, channel, template, template_version, outcome, "
        "reason, process, checks FROM decisions WHERE id = ?",
        (updated_11["id"],),
    )
    reported = _reported(checker.every_change_gets_one_decision_per_template, db)

    assert [(v.event, v.expected, v.happened) for v in reported] == [
        (f"change {created['id']} (create, line 3)", "a decision for template 12 of crm.deal",
         "no decision for it"),
        (f"decision {updated_11['id'] + 100000} (template 11, line 4)",
         f"one decision for template 11 at change {updated['id']}", "two"),
    ]  # fmt: skip


def test_a_process_made_change_starts_only_in_crm_with_the_option_on(ledger: Ledger) -> None:
    loop = {"update": {"TITLE": "again"}}
    db = ledger(
        [
            {"op": "portal", "start_bp_within_bp": True},
            _template(11, auto_execute=1, actions=[loop]),
            _template(12, auto_execute=2),
            _template(21, "lists.iblock_5", auto_execute=3),
            _create(DEAL, 0),
            _create("lists.iblock_5:1", 1),
            _update("lists.iblock_5:1", 2, "bizproc"),
        ]
    )
    assert db.query("SELECT element, channel, outcome FROM decisions WHERE depth > 0") == [
        {"element": DEAL, "channel": "bizproc", "outcome": "skipped"},
        {"element": DEAL, "channel": "bizproc", "outcome": "started"},
    ]
    assert check_store(db) == []

    db.execute(
        "UPDATE decisions SET outcome = 'started', process = 'lists.iblock_5:1#2' "
        "WHERE element = 'lists.iblock_5:1' AND channel = 'bizproc'"
    )
    [violation] = _reported(checker.no_process_starts_from_a_process_made_change, db)

    assert violation.element == "lists.iblock_5:1"
    assert "start_bp_within_bp is a CRM option only" in violation.expected


def test_a_start_from_an_empty_update_is_reported(ledger: Ledger) -> None:
    empty = {**_update(DEAL, 1), "changed": {}}
    db = ledger([_template(11), _create(DEAL, 0), empty])
    assert json.loads(db.query("SELECT fields FROM changes ORDER BY id DESC")[0]["fields"]) == {}

    db.execute(
        "UPDATE decisions SET outcome = 'started', process = 'x' WHERE reason = 'NO_CHANGES'"
    )
    [violation] = _reported(checker.no_process_starts_from_an_empty_update, db)

    assert violation.expected.startswith("skipped, NO_CHANGES")


def test_a_decision_deeper_than_0_needs_a_causing_process(ledger: Ledger) -> None:
    db = ledger([_template(11, auto_execute=1, actions=[{"create": "crm.lead"}]),
                 _template(21, "crm.lead", auto_execute=1), _create(DEAL, 0)])  # fmt: skip
    assert _reported(checker.process_made_decisions_have_a_causing_process, db) == []

    db.execute("UPDATE changes SET cause = NULL WHERE depth = 1")
    [violation] = _reported(checker.process_made_decisions_have_a_causing_process, db)

    assert violation.element == "crm.lead:1"
    assert violation.happened.endswith("names no process")


def test_a_start_in_a_list_with_business_processes_off_is_reported(ledger: Ledger) -> None:
    lists = "lists.iblock_5"
    db = ledger(
        [
            _template(21, lists),
            _create(f"{lists}:1", 0),
            {"op": "container", "document_type": lists, "bizproc_enabled": False},
            _update(f"{lists}:1", 1),
            {"op": "container", "document_type": lists, "bizproc_enabled": True},
            _update(f"{lists}:1", 2),
        ]
    )
    assert [r["reason"] for r in db.query("SELECT reason FROM decisions ORDER BY id")] == [
        "AUTO_ON_ADD", "CONTAINER_DISABLED", "AUTO_ON_CHANGE",
    ]  # fmt: skip

    db.execute(
        "UPDATE decisions SET outcome = 'started', process = 'p' "
        "WHERE reason = 'CONTAINER_DISABLED'"
    )
    [violation] = _reported(checker.no_process_starts_with_business_processes_off, db)

    assert "line 4" in violation.event
    assert violation.expected == f"skipped, CONTAINER_DISABLED ({lists} bizproc_enabled off)"


def test_a_decision_against_a_superseded_template_version_is_reported(ledger: Ledger) -> None:
    db = ledger(
        [
            _template(11),
            _create(DEAL, 0),
            {"op": "template", "template": 11, "active": False},
            _update(DEAL, 1),
        ]
    )
    assert _reported(checker.every_decision_uses_the_template_version_in_force, db) == []

    db.execute("UPDATE decisions SET template_version = 1")
    [violation] = _reported(checker.every_decision_uses_the_template_version_in_force, db)

    assert "line 4" in violation.event
    assert (violation.expected, violation.happened) == ("template version 2", "version 1")


def test_a_lists_rest_write_to_an_untuned_list_left_written_is_reported(ledger: Ledger) -> None:
    lists = "lists.iblock_5"
    untuned = [{"name": "Approver", "required": True}]
    db = ledger([_template(21, lists, auto_execute=2, constants=untuned),
                 _create(f"{lists}:1", 0, "rest"), _create(f"{lists}:2", 1, "ui")])  # fmt: skip
    law = checker.lists_rest_writes_are_refused_exactly_when_the_list_is_untuned
    assert _reported(law, db) == []

    db.execute("UPDATE changes SET op = 'create' WHERE op = 'create_refused'")
    db.execute("UPDATE changes SET op = 'create_refused' WHERE element = ?", (f"{lists}:2",))
    violations = _reported(law, db)

    assert [(v.element, v.happened) for v in violations] == [(f"{lists}:1", "written")]


def test_a_legacy_rest_decision_skipped_as_inactive_is_reported(ledger: Ledger) -> None:
    db = ledger([_template(11, active=False), _create(DEAL, 0, "rest")])
    law = checker.legacy_rest_checks_neither_active_nor_constants_nor_changes
    assert _reported(law, db) == []

    db.execute("UPDATE decisions SET outcome = 'skipped', reason = 'TEMPLATE_INACTIVE', "
               "process = NULL")  # fmt: skip
    [violation] = _reported(law, db)

    assert violation.happened == "skipped, TEMPLATE_INACTIVE"


def test_a_parameters_skip_of_a_template_with_untuned_constants_is_reported(
    ledger: Ledger,
) -> None:
    drive = "disk.storage_1"
    untuned = [{"name": "Approver", "required": True}]
    db = ledger([_template(41, drive, constants=untuned), _create(f"{drive}:1", 0,
                 parameters={"Note": "x"})])  # fmt: skip
    law = checker.constants_are_checked_before_parameters
    assert _reported(law, db) == []

    db.execute("UPDATE decisions SET reason = 'PARAMETERS_MISMATCH'")
    [violation] = _reported(law, db)

    assert violation.expected.startswith("skipped, CONSTANTS_NOT_TUNED")
