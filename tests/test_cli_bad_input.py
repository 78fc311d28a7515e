"""Bad traffic through `autostart replay`: exit 2, one line naming line and field, store kept."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import IO, Any

import pytest
from replaying import as_lines, at, opened, replay_into

from domain.stores import parse_store
from simulations.replay import replay
from simulations.traffic import BadLineError

Good = dict[str, Any] | str
Line = Good | bytes

# The store every bad replay is tried against: one good replay of these lines.
BASE: list[dict[str, Any]] = [
    {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3},
    {"op": "template", "template": 12, "document_type": "crm.contact", "auto_execute": 3},
    {"op": "template", "template": 21, "document_type": "disk.storage_1", "auto_execute": 3},
    {"op": "template", "template": 31, "document_type": "feed.iblock_22", "auto_execute": 1},
    {"op": "create", "at": at(0), "element": "crm.deal:101", "channel": "ui"},
    {"op": "create", "at": at(1), "element": "crm.deal:102", "channel": "web_form"},
    {"op": "delete", "at": at(2), "element": "crm.deal:102"},
    {"op": "create", "at": at(3), "element": "crm.contact:7", "channel": "ui"},
    {"op": "create", "at": at(4), "element": "disk.storage_1:5", "channel": "ui"},
    {"op": "import", "at": at(5), "document_type": "crm.lead", "elements": ["crm.lead:1"]},
]
# Good lines opening every bad file, so that the bad line is never line 1.
PREFIX: list[Good] = [
    {"op": "portal", "actor": "admin_1", "licence": "paid"},
    {"op": "update", "at": at(10), "element": "crm.deal:101", "channel": "ui", "changed": {"A": 1}},
]
T = at(20)


def create(element: str, channel: object = "ui", **extra: Any) -> dict[str, Any]:
    return {"op": "create", "at": T, "element": element, "channel": channel, **extra}


def update(element: str, channel: str = "ui", **extra: Any) -> dict[str, Any]:
    return {"op": "update", "at": T, "element": element, "channel": channel, "changed": {}, **extra}


def template(template_id: int = 50, **fields: Any) -> dict[str, Any]:
    return {"op": "template", "template": template_id, **fields}


def imported(document_type: str, *elements: object) -> dict[str, Any]:
    return {"op": "import", "at": T, "document_type": document_type, "elements": list(elements)}


def no_at(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k != "at"}


NEW = template(auto_execute=1, document_type="crm.deal")
# Lines written as text (duplicate keys, huge numbers), to be completed with their last fields.
CREATE_103 = f'{{"op": "create", "at": "{T}", "element": "crm.deal:103", "channel": "ui", '
UPDATE_101 = f'{{"op": "update", "at": "{T}", "element": "crm.deal:101", "channel": "ui", '
Case = tuple[str, Line, str, list[Good]]


def case(name: str, bad: Line, field: str, *before: Good) -> Case:
    """A bad line, the field its message must name (JSON: none), good lines before it."""
    return (name, bad, field, list(before))


# One case for each kind of bad input the SPEC lists: run through the command line.
SPEC_CASES = [
    case("malformed JSON", '{"op": "update", "at": ', "JSON"),
    case("malformed JSON after a blank line", "{'op': 'portal'}", "JSON", ""),
    case("invalid UTF-8", b'{"op": "portal", "actor": "\xff\xfe"}', "JSON"),
    case("an array, not an object", '["op", "portal"]', "JSON"),
    case("unknown op", {"op": "merge", "at": T}, "op"),
    case("op of the wrong type", {"op": ["portal"]}, "op"),
    case("unknown field", update("crm.deal:101", colour="red"), "colour"),
    case("unknown channel", create("crm.deal:103", "fax"), "channel"),
    case("channel of the wrong type", create("crm.deal:103", ["ui"]), "channel"),
    case("unknown document type", template(document_type="crm.invoice", auto_execute=1),
         "document_type"),
    case("edition saas", {"op": "portal", "edition": "saas"}, "edition"),
    case("auto_execute 4", {**NEW, "auto_execute": 4}, "auto_execute"),
    case("auto_execute -1", {**NEW, "auto_execute": -1}, "auto_execute"),
    case("limit -1", {"op": "portal", "limit_simultaneous_processes": -1},
         "limit_simultaneous_processes"),
    case("bool given as 1", {"op": "portal", "telephony": 1}, "telephony"),
    case("changed not an object", update("crm.deal:101", changed=[]), "changed"),
    case("feed on a crm.deal", create("crm.deal:103", "feed"), "channel"),
    case("call on disk", create("disk.storage_1:6", "call"), "channel"),
    case("robot_conversion on update", update("crm.deal:101", "robot_conversion"), "channel"),
    case("trigger_stage_change on create", create("crm.deal:103", "trigger_stage_change"),
         "channel"),
    case("trigger_stage_change on a contact", update("crm.contact:7", "trigger_stage_change"),
         "channel"),
    case("the old name robot_stage_change", update("crm.deal:101", "robot_stage_change"),
         "channel"),
    case("email without e-mail integration", create("crm.deal:103", "email"), "channel",
         {"op": "portal", "email_integration": False}),
    case("call without telephony", update("crm.deal:101", "call"), "channel",
         {"op": "portal", "telephony": False}),
    case("create of an element that exists", create("crm.deal:101"), "element"),
    case("create of a deleted element", create("crm.deal:102"), "element"),
    case("update of a missing element", update("crm.deal:999"), "element"),
    case("delete of a missing element", {"op": "delete", "at": T, "element": "crm.deal:9"},
         "element"),
    case("update after delete", update("crm.deal:102"), "element"),
    case("import of another type", imported("crm.lead", "crm.lead:50", "crm.deal:50"),
         "elements"),
    case("import of Drive", imported("disk.storage_1", "disk.storage_1:9"), "document_type"),
    case("duplicate in an import", imported("crm.lead", "crm.lead:60", "crm.lead:60"),
         "elements"),
    case("template without document_type", template(auto_execute=1), "document_type"),
    case("template without auto_execute", template(document_type="crm.deal"), "auto_execute"),
    case("template changing its type", template(11, document_type="crm.lead"), "document_type"),
    case("container for a CRM type",
         {"op": "container", "document_type": "crm.deal", "bizproc_enabled": False},
         "document_type"),
    case("container without bizproc_enabled",
         {"op": "container", "document_type": "feed.iblock_22"}, "bizproc_enabled"),
    case("create without at", no_at(create("crm.deal:103")), "at"),
    case("update without at", no_at(update("crm.deal:101")), "at"),
    case("import without at", no_at(imported("crm.lead", "crm.lead:70")), "at"),
    case("delete without at", {"op": "delete", "element": "crm.deal:101"}, "at"),
    case("at without offset", {**create("crm.deal:103"), "at": "2026-03-02T10:00:00"}, "at"),
    case("at going backwards", {**create("crm.deal:103"), "at": at(9)}, "at"),
    case("bad action", {**NEW, "actions": [{"delete": {}}]}, "actions"),
    case("element id past 64 bits", create(f"crm.deal:{2**63}"), "element"),
    case("lone surrogate", '{"op": "portal", "actor": "admin_\\ud800"}', "actor"),
    case("integer of 5,000 digits", CREATE_103 + f'"fields": {{"N": {"9" * 5000}}}}}',
         "fields.N"),
    case("duplicate key", CREATE_103 + '"element": "crm.deal:104"}', "element"),
]  # fmt: skip
# More of the same kinds, checked in-process only (a subprocess each would be slow).
MORE_CASES = [
    case("a string, not an object", '"portal"', "JSON"),
    case("no op", {"at": T, "element": "crm.deal:101"}, "op"),
    case("field of another op", create("crm.deal:103", changed={}), "changed"),
    case("unknown portal field", {"op": "portal", "theme": "dark"}, "theme"),
    case("unknown type in an element", create("crm.invoice:5"), "element"),
    case("element id 0", create("crm.deal:0"), "element"),
    case("unknown plan", {"op": "portal", "plan": "gold"}, "plan"),
    case("unknown licence", {"op": "portal", "licence": "trial"}, "licence"),
    case("unknown policy", {"op": "portal", "limit_policy": "drop"}, "limit_policy"),
    case("auto_execute true", {**NEW, "auto_execute": True}, "auto_execute"),
    case("limit as a string", {"op": "portal", "limit_simultaneous_processes": "2"},
         "limit_simultaneous_processes"),
    case("feature as 1", {"op": "portal", "features": {"bizproc": 1}}, "features"),
    case("unknown feature", {"op": "portal", "features": {"crm": True}}, "features"),
    case("active as 1", {**NEW, "active": 1}, "active"),
    case("negative duration", {**NEW, "duration": -5}, "duration"),
    case("template id 0", template(0, document_type="crm.deal", auto_execute=1), "template"),
    case("parameters not a list", {**NEW, "parameters": {}}, "parameters"),
    case("constant without name", {**NEW, "constants": [{"required": True}]}, "constants"),
    case("fields not an object", create("crm.deal:103", fields="x"), "fields"),
    case("element not a string", imported("crm.lead", 5), "elements"),
    case("at a number", {**create("crm.deal:103"), "at": 12345}, "at"),
    case("at not a time", {**create("crm.deal:103"), "at": "yesterday"}, "at"),
    case("actor a number", {**create("crm.deal:103"), "actor": 7}, "actor"),
    case("import on disk", update("disk.storage_1:5", "import"), "channel"),
    case("delete after delete", {"op": "delete", "at": T, "element": "crm.deal:102"}, "element"),
    case("import of an existing element", imported("crm.lead", "crm.lead:1"), "elements"),
    case("create of an element deleted in the same file", create("crm.deal:103"), "element",
         {"op": "create", "at": at(11), "element": "crm.deal:103", "channel": "ui"},
         {"op": "delete", "at": at(12), "element": "crm.deal:103"}),
    case("type change in the same file", template(50, document_type="crm.lead"),
         "document_type", NEW),
    case("settings line going backwards", {"op": "portal", "at": at(1), "telephony": True},
         "at"),
    case("update action not an object", {**NEW, "actions": [{"update": "x"}]}, "actions"),
    case("create action of no type", {**NEW, "actions": [{"create": "crm.nope"}]}, "actions"),
    case("actions not a list", {**NEW, "actions": {"update": {}}}, "actions"),
    # The documented ranges (README, "Ranges"), and what JSON allows but no store keeps.
    case("element id past the traffic range", create(f"crm.deal:{2**62 + 1}"), "element"),
    case("element name with a newline", create("crm.deal:103\n"), "element"),
    case("template id past 32 bits", template(2**31, document_type="crm.deal", auto_execute=1),
         "template"),
    case("type number past 32 bits", template(document_type=f"crm.dynamic_{2**31}",
         auto_execute=1), "document_type"),
    case("limit past 32 bits", {"op": "portal", "limit_simultaneous_processes": 2**31},
         "limit_simultaneous_processes"),
    case("duration past 100 years", {**NEW, "duration": 100 * 365 * 86_400 + 1}, "duration"),
    case("at before 1970", {**create("crm.deal:103"), "at": "0001-01-01T00:00:00+03:00"}, "at"),
    case("at in the year 9999", {**create("crm.deal:103"), "at": "9999-12-31T23:59:59+00:00"},
         "at"),
    case("field value past 64 bits", create("crm.deal:103", fields={"N": 2**63}), "fields.N"),
    case("NaN", '{"op": "portal", "limit_simultaneous_processes": NaN}',
         "limit_simultaneous_processes"),
    case("Infinity", create("crm.deal:103", fields={"N": float("inf")}), "fields.N"),
    case("infinite by its exponent", CREATE_103 + '"fields": {"N": 1e400}}', "fields.N"),
    case("NUL in a string", create("crm.deal:103", actor="a\u0000b"), "actor"),
    case("lone surrogate in a key", UPDATE_101 + '"changed": {"\\udfff": 1}}', "changed"),
    case("lone surrogate deep in a list", create("crm.deal:103", fields={"L": [1, "\ud800"]}),
         "fields.L[1]"),
    case("duplicate key in changed", UPDATE_101 + '"changed": {"A": 1, "A": 2}}', "changed.A"),
    case("JSON nested 100,000 deep", '{"op": "portal", "actor": ' + "[" * 100_000
         + "]" * 100_000 + "}", "JSON"),
]  # fmt: skip
ALL_CASES = [c for c in SPEC_CASES + MORE_CASES if not isinstance(c[1], bytes)]


def encode(line: Line) -> bytes:
    if isinstance(line, bytes):
        return line
    return (line if isinstance(line, str) else json.dumps(line)).encode()


def write_traffic(path: Path, lines: Sequence[Line]) -> Path:
    path.write_bytes(b"".join(encode(line) + b"\n" for line in lines))
    return path


def replay_cli(cwd: Path, traffic: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulations.cli", "replay", traffic, *options],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def store_digest(path: Path) -> tuple[int, str]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT * FROM stored_events ORDER BY rowid").fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def assert_refused(result: subprocess.CompletedProcess[str], number: int, field: str) -> None:
    message = result.stderr.strip()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert len(message.splitlines()) == 1, message
    assert re.search(rf"\bline {number}\b", message), message
    if field == "JSON":
        assert "JSON" in message
    else:
        assert re.search(rf"""['"`]{re.escape(field)}['"`\[.]""", message), message
    assert "expected" in message


def refuse_delivery(_: IO[str]) -> None:
    raise AssertionError("a refused replay delivered decisions")


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("base") / "base.db"
    with opened(str(path)) as app:
        replay_into(app, BASE)
    return path


def ids(cases: list[Case]) -> list[str]:
    return [name for name, *_ in cases]


@pytest.mark.slow
@pytest.mark.parametrize("bad_case", SPEC_CASES, ids=ids(SPEC_CASES))
def test_a_bad_line_is_refused_by_number_and_field_and_the_store_is_kept(
    tmp_path: Path, base_store: Path, bad_case: Case
) -> None:
    _, bad, field, before = bad_case
    store = Path(shutil.copy(base_store, tmp_path / "store.db"))
    write_traffic(tmp_path / "bad.jsonl", [*PREFIX, *before, bad])
    kept = store_digest(store)

    result = replay_cli(tmp_path, "bad.jsonl", "--store", "store.db")

    assert_refused(result, len(PREFIX) + len(before) + 1, field)
    assert store_digest(store) == kept


@pytest.mark.parametrize("bad_case", ALL_CASES, ids=ids(ALL_CASES))
def test_replay_refuses_the_bad_line_by_number_and_field_and_keeps_the_store(
    tmp_path: Path, base_store: Path, bad_case: Case
) -> None:
    _, bad, field, before = bad_case
    assert not isinstance(bad, bytes)
    store = Path(shutil.copy(base_store, tmp_path / "store.db"))
    kept = store_digest(store)
    good = [*PREFIX, *before]

    with opened(str(store)) as app, pytest.raises(BadLineError) as refused:
        replay(app, as_lines([*good, bad]), refuse_delivery)

    assert refused.value.line == len(good) + 1
    assert (refused.value.field or "JSON").startswith(field)
    assert store_digest(store) == kept


@pytest.mark.parametrize("bad_case", ALL_CASES, ids=ids(ALL_CASES))
def test_the_lines_before_each_bad_line_are_good(bad_case: Case) -> None:
    good = [*PREFIX, *bad_case[3]]

    with opened("memory:") as app:
        replay_into(app, BASE)
        decisions = replay_into(app, good)

    assert decisions[0]["line"] == 2


def many_good_lines(count: int) -> list[Good]:
    """More lines than one save batch, so the bad line comes after a committed batch."""
    return [
        update("crm.deal:101", at=at(10 + i / 600), changed={"N": i}) for i in range(1, count + 1)
    ]


@pytest.mark.slow
def test_a_bad_line_after_a_committed_batch_leaves_the_store_as_it_was(
    tmp_path: Path, base_store: Path
) -> None:
    store = Path(shutil.copy(base_store, tmp_path / "store.db"))
    good = [*PREFIX, *many_good_lines(2500)]
    write_traffic(tmp_path / "bad.jsonl", [*good, create("crm.deal:103", "fax")])
    kept = store_digest(store)

    result = replay_cli(tmp_path, "bad.jsonl", "--store", "store.db")

    assert_refused(result, len(good) + 1, "channel")
    assert store_digest(store) == kept


@pytest.mark.slow
@pytest.mark.parametrize("address", ["new.db", "sqlite:///sub/new.db"])
def test_a_bad_line_into_a_new_store_file_leaves_no_file(tmp_path: Path, address: str) -> None:
    good = [*BASE, *PREFIX, *many_good_lines(2100)]
    write_traffic(tmp_path / "bad.jsonl", [*good, update("crm.deal:999")])
    path = tmp_path / parse_store(address).env["SQLITE_DBNAME"]

    result = replay_cli(tmp_path, "bad.jsonl", "--store", address)

    assert_refused(result, len(good) + 1, "element")
    for suffix in ("", "-wal", "-shm", "-journal"):
        assert not Path(f"{path}{suffix}").exists()


@pytest.mark.slow
def test_a_bad_line_keeps_an_existing_decisions_file(tmp_path: Path, base_store: Path) -> None:
    shutil.copy(base_store, tmp_path / "store.db")
    (tmp_path / "decisions.jsonl").write_text("earlier decisions\n")
    write_traffic(tmp_path / "bad.jsonl", [*PREFIX, create("crm.deal:101")])
    files = sorted(p.name for p in tmp_path.iterdir())

    result = replay_cli(
        tmp_path, "bad.jsonl", "--store", "store.db", "--decisions", "decisions.jsonl"
    )

    assert_refused(result, len(PREFIX) + 1, "element")
    assert (tmp_path / "decisions.jsonl").read_text() == "earlier decisions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == files
