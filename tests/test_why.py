"""`explain`, `autostart why` and `autostart check-one`: every reason told with its checks."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from replaying import at, replay_into

from domain.stores import parse_store
from domain.vocabulary import Reason
from projections.database import ReadDatabase
from projections.explain import Query, UnknownElementError, explain
from projections.runner import catch_up
from simulations.cli import main
from simulations.replay import open_store

SPEC_ORDER = ["channel", "changes", "rest_licence", "feature", "container", "active",
              "auto_execute", "constants", "parameters", "limit"]  # fmt: skip
# For every reason: its outcome, the check that fails (SPEC decision order) and what its
# line must show about the values it looked at, in the situation the traffic below sets up.
EXPECTED: dict[str, tuple[str, str | None, list[str]]] = {
    "CHANNEL_IMPORT": ("skipped", "channel", ["channel=import"]),
    "CHANNEL_INNER": ("skipped", "channel", ["channel=bizproc", "start_bp_within_bp=off"]),
    "CHANNEL_ROBOT_CONVERSION": ("skipped", "channel", ["channel=robot_conversion"]),
    "CHANNEL_SYSTEM": ("skipped", "channel", ["channel=system"]),
    "CHANNEL_DIRECT_API": ("skipped", "channel", ["channel=iblock_api"]),
    "TRIGGER_STAGE_CHANGE": ("skipped", "channel", ["channel=trigger_stage_change"]),
    "NO_CHANGES": ("skipped", "changes", ["changed=[]"]),
    "REST_LICENCE": ("skipped", "rest_licence", ["edition=cloud", "licence=free"]),
    "FEATURE_DISABLED": ("skipped", "feature", ["lists_processes=off"]),
    "CONTAINER_DISABLED": ("skipped", "container", ["bizproc_enabled=off"]),
    "TEMPLATE_INACTIVE": ("skipped", "active", ["active=off"]),
    "NOT_ON_ADD": ("skipped", "auto_execute", ["auto_execute=2", "bit=1"]),
    "NOT_ON_CHANGE": ("skipped", "auto_execute", ["auto_execute=1", "bit=2"]),
    "PARAMETERS_MISMATCH": ("skipped", "parameters", ["values_given=off"]),
    "PARAMETER_REQUIRED": ("skipped", "parameters", ["missing=[Reason]"]),
    "CONSTANTS_NOT_TUNED": ("skipped", "constants", ["untuned=[Approver]"]),
    "LIMIT_REJECTED": ("rejected", "limit", ["limit=1", "policy=reject", "running=1"]),
    "LIMIT_QUEUED": ("queued", "limit", ["limit=2", "policy=queue", "running=2"]),
    "AUTO_ON_ADD": ("started", None, []),
    "AUTO_ON_CHANGE": ("started", None, []),
}
TEMPLATES: list[dict[str, Any]] = [
    {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3,
     "duration": 3600, "actor": "admin_1"},
    {"op": "template", "template": 12, "document_type": "crm.deal", "auto_execute": 1,
     "duration": 3600},
    {"op": "template", "template": 13, "document_type": "crm.deal", "auto_execute": 3,
     "active": False},
    {"op": "template", "template": 14, "document_type": "crm.deal", "auto_execute": 2,
     "constants": [{"name": "Approver", "required": True, "value": None}]},
    {"op": "template", "template": 21, "document_type": "crm.lead", "auto_execute": 1,
     "actions": [{"update": {"STATUS_ID": "IN_PROCESS"}}, {"create": "crm.contact"}]},
    {"op": "template", "template": 61, "document_type": "crm.contact", "auto_execute": 3},
    {"op": "template", "template": 31, "document_type": "feed.iblock_22", "auto_execute": 1,
     "parameters": [{"name": "Reason", "required": True, "default": None}]},
    {"op": "template", "template": 41, "document_type": "disk.storage_1", "auto_execute": 3},
    {"op": "template", "template": 42, "document_type": "disk.storage_1", "auto_execute": 1,
     "parameters": [{"name": "Reviewer"}]},
    {"op": "container", "document_type": "lists.iblock_30", "bizproc_enabled": False},
    {"op": "template", "template": 51, "document_type": "lists.iblock_30", "auto_execute": 3},
    {"op": "template", "template": 71, "document_type": "crm.company", "auto_execute": 2,
     "actions": [{"update": {"N": "1"}}]},
    {"op": "template", "template": 81, "document_type": "crm.smart_invoice", "auto_execute": 3,
     "duration": 86400},
]  # fmt: skip


def change(minute: float, element: str, channel: str, **fields: Any) -> dict[str, Any]:
    return {"op": "update", "at": at(minute), "element": element, "channel": channel,
            "changed": fields}  # fmt: skip


def create(minute: float, element: str, channel: str = "ui") -> dict[str, Any]:
    return {"op": "create", "at": at(minute), "element": element, "channel": channel}


TRAFFIC: list[dict[str, Any]] = [
    *TEMPLATES,
    {**create(0, "crm.deal:101"), "actor": "user_7"},
    change(1, "crm.deal:101", "ui", STAGE_ID="PREPARATION"),  # template 11 queued
    create(2, "crm.deal:102", "web_form"),
    change(3, "crm.deal:102", "trigger_stage_change", STAGE_ID="WON"),
    change(4, "crm.deal:102", "web_form"),
    {"op": "import", "at": at(5), "document_type": "crm.lead", "file": "leads.csv",
     "elements": ["crm.lead:5", "crm.lead:6"]},
    create(6, "crm.lead:7", "call"),  # its process updates it and creates crm.contact:1
    create(7, "crm.lead:8", "robot_conversion"),
    change(8, "crm.lead:7", "system", LAST_ACTIVITY="now"),
    change(9, "crm.lead:8", "trigger_stage_change", STATUS_ID="JUNK"),
    create(10, "feed.iblock_22:900", "feed"),
    create(11, "feed.iblock_22:902", "iblock_api"),
    create(12, "disk.storage_1:5120"),
    change(13, "disk.storage_1:5120", "bizproc", VERSION=2),
    create(14, "lists.iblock_30:1"),
    {"op": "template", "at": at(15), "template": 11, "duration": 60, "actor": "admin_2"},
    create(16, "crm.smart_invoice:1"),
    change(17, "crm.smart_invoice:1", "ui", TITLE="a"),
    change(18, "crm.smart_invoice:1", "ui", TITLE="b"),  # queued until the next day
    change(200, "crm.deal:101", "ui", STAGE_ID="WON"),  # template 11 now at version 2
    {"op": "portal", "at": at(201), "actor": "admin_1", "licence": "free"},
    create(202, "crm.lead:9", "rest"),
    {"op": "portal", "at": at(203), "licence": "paid", "features": {"lists_processes": False}},
    create(204, "feed.iblock_22:903"),
    {"op": "portal", "at": at(205), "features": {"lists_processes": True},
     "start_bp_within_bp": True},
    create(206, "crm.company:1"),
    change(207, "crm.company:1", "ui", N="0"),  # runs away
    {"op": "portal", "at": at(208), "edition": "on_premise", "limit_simultaneous_processes": 1,
     "start_bp_within_bp": False},
    create(209, "crm.deal:103"),
    create(210, "crm.contact:50", "email"),
]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store whose traffic produces every reason code, with its read models."""
    path = str(tmp_path_factory.mktemp("why") / "store.db")
    app = open_store(parse_store(path))
    db = ReadDatabase(parse_store(path))
    try:
        decisions = replay_into(app, TRAFFIC)
        catch_up(app, db)
    finally:
        db.close()
        app.close()
    assert {d["reason"] for d in decisions} == set(EXPECTED) == set(Reason)
    return path


def ask(capsys: pytest.CaptureFixture[str], store: str, *args: str) -> tuple[dict[str, Any], str]:
    """`autostart why` asked twice: its JSON document and its text."""
    codes = [main(["why", *args, "--store", store, *extra]) for extra in (["--json"], [])]
    out = capsys.readouterr().out
    assert codes == [0, 0]
    split = out.index("\n}\n") + 3
    explained: dict[str, Any] = json.loads(out[:split])
    return explained, out[split:]


def decisions(explained: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for c in explained["changes"] for d in c["decisions"]]


def check_lines(text: str, head: str) -> dict[str, str]:
    """Check name -> its line, in the block of the first decision whose head starts with `head`."""
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    found: dict[str, str] = {}
    for line in lines[start + 1 :]:
        words = line.split()
        if not words or words[0] not in ("pass", "FAIL", "fail", "configuration"):
            break
        if words[0] != "configuration":
            found[words[1]] = line
    return found


def first_with(store: str, reason: str) -> dict[str, Any]:
    with closing(sqlite3.connect(store)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM decisions WHERE reason = ? ORDER BY id", (reason,))
        return dict(row.fetchone())


@pytest.mark.parametrize("reason", list(EXPECTED))
def test_why_tells_every_reason_with_its_failing_check_values_confidence_and_source(
    capsys: pytest.CaptureFixture[str], store: str, reason: str
) -> None:
    outcome, failing, shown = EXPECTED[reason]
    row = first_with(store, reason)

    explained, text = ask(capsys, store, row["element"])

    found = next(d for d in decisions(explained) if d["reason"] == reason)
    assert (found["template"], found["outcome"]) == (row["template"], outcome)
    checks = found["checks"]
    assert [c["check"] for c in checks] == SPEC_ORDER
    assert all(c["confidence"] in ("C", "I") and c["source"] for c in checks)
    head = f"template {row['template']} v{row['template_version']}: {outcome} {reason}"
    lines = check_lines(text, head)
    assert list(lines) == SPEC_ORDER
    marks = [line.split()[0] for line in lines.values()]
    failed = [c for c in checks if not c["passed"]]
    if failing is None:
        assert failed == []
        assert set(marks) == {"pass"}
    else:
        assert (failed[0]["check"], failed[0]["reason"]) == (failing, reason)
        assert marks.count("FAIL") == 1
        assert lines[failing].startswith("FAIL ")
        assert all(value in lines[failing] for value in shown), lines[failing]
        assert f"[{failed[0]['confidence']}] {failed[0]['source']}" in lines[failing]


@pytest.mark.parametrize(
    ("element", "template", "head", "label"),
    [
        ("crm.contact:50", 61, "v1: started AUTO_ON_ADD", "pass channel      channel=email  [I]"),
        ("crm.lead:8", 21, "v1: skipped TRIGGER_STAGE_CHANGE", "FAIL channel"),
        ("disk.storage_1:5120", 41, "v1: skipped CHANNEL_INNER", "FAIL channel"),
    ],
)
def test_inferred_rules_are_labelled_i_and_confirmed_ones_c(
    capsys: pytest.CaptureFixture[str], store: str, element: str, template: int, head: str,
    label: str,
) -> None:  # fmt: skip
    _, text = ask(capsys, store, element, "--template", str(template))

    channel = check_lines(text, f"template {template} {head}")["channel"]
    assert channel.startswith(label)
    assert ("[I]" in channel) == ("[I]" in label)
    assert ("[C]" in channel) != ("[I]" in label)


def test_why_at_a_time_before_a_reconfiguration_shows_version_1_and_after_it_version_2(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    before, before_text = ask(capsys, store, "crm.deal:101", "--at", at(10), "--template", "11")
    after, after_text = ask(capsys, store, "crm.deal:101", "--at", at(250), "--template", "11")

    assert [c["revision"] for c in before["changes"]] == [1, 2]
    assert {d["template_config"]["version"] for d in decisions(before)} == {1}
    assert {d["template_config"]["duration"] for d in decisions(before)} == {3600}
    assert "configuration v2" not in before_text
    assert "duration=3600s, set before the first timed line by admin_1" in before_text
    latest = decisions(after)[-1]
    assert [c["revision"] for c in after["changes"]] == [1, 2, 3]
    assert (latest["template_version"], latest["template_config"]["duration"]) == (2, 60)
    assert latest["template_config"]["changed_by"] == "admin_2"
    assert datetime.fromisoformat(
        latest["template_config"]["changed_at"]
    ) == datetime.fromisoformat(at(15))
    assert "configuration v2: auto_execute=3, active=on, duration=60s, last changed by admin_2" in (
        after_text
    )


def test_why_with_a_template_shows_only_that_templates_decisions(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    explained, text = ask(capsys, store, "crm.deal:101", "--template", "12")

    assert {d["template"] for d in decisions(explained)} == {12}
    assert len(decisions(explained)) == 3
    assert "template 12 v1" in text
    assert all(f"template {t} " not in text for t in (11, 13, 14))


def test_why_shows_which_process_made_a_change_and_what_a_process_changed(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    lead, lead_text = ask(capsys, store, "crm.lead:7")
    contact, _ = ask(capsys, store, "crm.contact:1")

    started = decisions(lead)[0]
    made = [(c["element"], c["op"]) for c in started["cascade"]["changes_made"]]
    assert made == [("crm.lead:7", "update"), ("crm.contact:1", "create")]
    assert "its actions changed: crm.lead:7 (update), crm.contact:1 (create)" in lead_text
    cause = {"process": started["process"], "element": "crm.lead:7", "template": 21}
    assert lead["changes"][1]["caused_by"] == cause
    assert contact["changes"][0]["caused_by"] == cause
    line = 1 + next(i for i, t in enumerate(TRAFFIC) if t.get("element") == "crm.lead:7")
    assert (contact["changes"][0]["line"], contact["changes"][0]["depth"]) == (line, 1)
    assert f"made by process {started['process']} (template 21 on crm.lead:7)" in lead_text


def test_why_shows_a_runaway_halt_with_its_chain_of_causes(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    explained, text = ask(capsys, store, "crm.company:1")
    earlier, _ = ask(capsys, store, "crm.company:1", "--at", at(206))

    (halt,) = explained["halts"]
    assert [step["depth"] for step in halt["chain"]] == list(range(21))
    assert {step["template"] for step in halt["chain"]} == {71}
    assert "runaway cascade stopped at depth 21" in text
    assert "depth 20: crm.company:1 change via bizproc -> template 71" in text
    assert earlier["halts"] == []


def test_a_queued_process_shows_its_status_and_times(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    deal, _ = ask(capsys, store, "crm.deal:101", "--template", "11")
    invoice, text = ask(capsys, store, "crm.smart_invoice:1")

    queued = next(d for d in decisions(deal) if d["outcome"] == "queued")
    status = queued["process_status"]
    assert status["status"] == "completed"
    assert (status["queued_at"], status["started_at"]) == (at(1), at(60))
    waiting = decisions(invoice)[-1]
    assert waiting["outcome"] == "queued"
    assert waiting["process_status"]["status"] == "queued"
    assert waiting["process_status"]["started_at"] is None
    assert f"-> process {waiting['process']} (queued, queued {at(18)})" in text


def test_an_unknown_element_exits_2_with_the_nearest_ids_suggested(store: str) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "autostart"), "why", "crm.deal:104", "--store", store],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    db = ReadDatabase(parse_store(store))
    try:
        with pytest.raises(UnknownElementError) as raised:
            explain(db, Query("crm.deal:104"))
    finally:
        db.close()

    assert result.returncode == 2
    assert "crm.deal:103, crm.deal:102, crm.deal:101" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert raised.value.suggestions == ["crm.deal:103", "crm.deal:102", "crm.deal:101"]


def digest(store: str) -> str:
    with closing(sqlite3.connect(store)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        # Every row of every table, in a fixed order (the snapshots table has no rowid).
        text = json.dumps([sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                           for t in sorted(tables)], default=bytes.hex)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


HYPOTHETICAL = json.dumps(change(300, "crm.deal:101", "ui", STAGE_ID="LOSE"))


def test_check_one_prints_each_templates_would_be_outcome_and_checks_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    before = digest(store)

    text_code = main(["check-one", HYPOTHETICAL, "--store", store])
    text = capsys.readouterr().out
    rows = text.splitlines()
    json_code = main(["check-one", HYPOTHETICAL, "--store", store, "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert (text_code, json_code) == (0, 0)
    assert digest(store) == before
    expected = {11: "started AUTO_ON_CHANGE", 12: "skipped NOT_ON_CHANGE",
                13: "skipped TEMPLATE_INACTIVE", 14: "skipped CONSTANTS_NOT_TUNED"}  # fmt: skip
    assert {d["template"]: f"{d['outcome']} {d['reason']}" for d in lines} == expected
    assert all([c["check"] for c in d["checks"]] == SPEC_ORDER for d in lines)
    assert {d["element"] for d in lines} == {"crm.deal:101"}
    for template, verdict in expected.items():
        assert re.search(f"template {template} v[12] would be {verdict}", text)
    assert ["FAIL", "constants", "untuned=[Approver]"] in [line.split()[:3] for line in rows]
    assert text.count("pass channel") == 4


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"op":"update","element":"crm.deal:101","channel":"ui","changed":{}}', "'at'"),
        (json.dumps(change(300, "crm.deal:999", "ui", A=1)), "'element'"),
        (json.dumps({**change(300, "crm.deal:101", "fax", A=1)}), "'channel'"),
        ('{"op":"update",', "line 1"),
    ],
)
def test_check_one_refuses_a_bad_line_with_exit_2_naming_line_and_field(
    capsys: pytest.CaptureFixture[str], store: str, line: str, field: str
) -> None:
    before = digest(store)

    code = main(["check-one", line, "--store", store])
    out, err = capsys.readouterr()

    assert code == 2
    assert "line 1" in err
    assert field in err
    assert out == ""
    assert digest(store) == before


def test_why_on_the_root_of_a_cascade_stopped_on_a_descendant_shows_the_stop(
    tmp_path: Path,
) -> None:
    store = str(tmp_path / "runaway.db")
    traffic: list[dict[str, Any]] = [
        {"op": "portal", "start_bp_within_bp": True},
        {"op": "template", "template": 81, "document_type": "crm.deal", "auto_execute": 1,
         "actions": [{"create": "crm.company"}]},
        {"op": "template", "template": 82, "document_type": "crm.company", "auto_execute": 3,
         "actions": [{"update": {"STEP": "again"}}]},
        {"op": "create", "at": at(0), "element": "crm.deal:1", "channel": "ui"},
        {"op": "create", "at": at(1), "element": "crm.deal:2", "channel": "ui"},
    ]  # fmt: skip
    app = open_store(parse_store(store))
    replay_into(app, traffic)
    db = ReadDatabase(parse_store(store))
    catch_up(app, db)
    app.close()

    root = explain(db, Query("crm.deal:1"))
    descendant = explain(db, Query("crm.company:1"))
    other = explain(db, Query("crm.deal:2"))
    db.close()

    assert [(h["element"], h["line"], h["depth"]) for h in root["halts"]] == [
        ("crm.company:1", 4, 21)
    ]
    assert root["halts"] == descendant["halts"]
    assert [step["element"] for step in root["halts"][0]["chain"][:2]] == [
        "crm.deal:1",
        "crm.company:1",
    ]
    assert [(h["element"], h["line"]) for h in other["halts"]] == [("crm.company:2", 5)]
