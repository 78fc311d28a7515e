"""`autostart replay` end to end: output format, stores, continuation, determinism, kills."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import closing
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from replaying import as_lines, at, decisions_of

from domain.stores import parse_store, redacted
from simulations.replay import open_store

pytestmark = pytest.mark.slow

KEYS = [
    "line", "depth", "at", "element", "trigger", "channel", "template", "template_version",
    "outcome", "reason", "process",
]  # fmt: skip
FIRST: list[dict[str, Any]] = [
    {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3,
     "duration": 3600},
    {"op": "create", "at": at(0), "element": "crm.deal:101", "channel": "ui"},
    {"op": "update", "at": at(1), "element": "crm.deal:101", "channel": "ui", "changed": {"A": 1}},
    {"op": "update", "at": at(2), "element": "crm.deal:101", "channel": "ui", "changed": {"A": 2}},
]  # fmt: skip
EXAMPLE = resources.files("simulations").joinpath("examples", "portal.jsonl").read_text().strip()
SECOND: list[dict[str, Any]] = [
    {"op": "portal", "actor": "admin_1", "licence": "paid"},
    {"op": "update", "at": at(120), "element": "crm.deal:101", "channel": "ui",
     "changed": {"A": 3}},
]  # fmt: skip


def autostart(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulations.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(path: Path, traffic: Iterable[dict[str, Any] | str]) -> str:
    path.write_text("".join(line + "\n" for line in as_lines(traffic)))
    return path.name


def rows(store: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(store)) as db:
        query = "SELECT originator_id, originator_version, topic, state FROM stored_events"
        return db.execute(query + " ORDER BY rowid").fetchall()


def last_row(store: Path) -> int:
    with closing(sqlite3.connect(store, timeout=10)) as db:
        found: int | None = db.execute("SELECT max(rowid) FROM stored_events").fetchone()[0]
    return found or 0


def parsed(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def without_line(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in d.items() if k != "line"} for d in decisions]


@pytest.mark.parametrize("command", [[], ["replay"], ["example"]])
def test_help_of_every_command_exits_with_status_0(tmp_path: Path, command: list[str]) -> None:
    script = Path(sys.executable).with_name("autostart")

    result = subprocess.run(
        [str(script), *command, "--help"], cwd=tmp_path, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: autostart")


def test_the_example_replays_into_memory_as_json_lines_with_the_spec_keys(tmp_path: Path) -> None:
    example = autostart(tmp_path, "example").stdout

    result = autostart(tmp_path, "replay", "-", "--store", "memory:", stdin=example)

    assert result.returncode == 0, result.stderr
    assert example.strip() == EXAMPLE
    decisions = [json.loads(line, object_pairs_hook=list) for line in result.stdout.splitlines()]
    assert decisions
    assert all([key for key, _ in d] == KEYS for d in decisions)
    for d in map(dict, decisions):
        assert isinstance(d["line"], int)
        assert isinstance(d["depth"], int)
        assert datetime.fromisoformat(d["at"]).tzinfo is not None
        assert d["trigger"] in ("add", "change")
        assert d["outcome"] in ("started", "queued", "rejected", "skipped")
        assert (d["process"] is not None) == (d["outcome"] in ("started", "queued"))
    assert list(tmp_path.iterdir()) == []


def test_a_decisions_file_holds_exactly_what_stdout_would(tmp_path: Path) -> None:
    traffic = write(tmp_path / "traffic.jsonl", [EXAMPLE])
    printed = autostart(tmp_path, "replay", traffic, "--store", "memory:")

    result = autostart(
        tmp_path, "replay", traffic, "--store", "memory:", "--decisions", "out.jsonl"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert printed.stdout
    assert (tmp_path / "out.jsonl").read_text() == printed.stdout


def test_decisions_sent_to_a_named_pipe_go_through_it_and_leave_it_a_pipe(tmp_path: Path) -> None:
    # As with --decisions /dev/null: the target is written into, never replaced by a file.
    traffic = write(tmp_path / "first.jsonl", FIRST)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        result = autostart(tmp_path, "replay", traffic, "--store", "memory:", "--decisions", "pipe")
        received = os.read(reader, 1 << 16).decode()
    finally:
        os.close(reader)

    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    assert parsed(received) == decisions_of(FIRST)


def test_the_default_store_is_autostart_db_in_the_working_folder(tmp_path: Path) -> None:
    traffic = write(tmp_path / "first.jsonl", FIRST)

    result = autostart(tmp_path, "replay", traffic)

    assert result.returncode == 0, result.stderr
    assert len(rows(tmp_path / "autostart.db")) > len(FIRST)


def test_a_second_traffic_file_continues_the_store_where_the_first_left_it(
    tmp_path: Path,
) -> None:
    first = write(tmp_path / "first.jsonl", FIRST)
    second = write(tmp_path / "second.jsonl", SECOND)
    autostart(tmp_path, "replay", first, "--store", "store.db")

    result = autostart(tmp_path, "replay", second, "--store", "store.db")

    assert result.returncode == 0, result.stderr
    decisions = parsed(result.stdout)
    # #1 and #2 ended after an hour, #3 left the queue and ended too: #4 starts at once.
    assert [(d["line"], d["outcome"], d["process"]) for d in decisions] == [
        (2, "started", "crm.deal:101#4")
    ]
    assert without_line(decisions) == without_line(decisions_of([*FIRST, *SECOND])[-1:])


def test_the_clock_persists_so_a_later_file_cannot_go_back_in_time(tmp_path: Path) -> None:
    first = write(tmp_path / "first.jsonl", FIRST)
    autostart(tmp_path, "replay", first, "--store", "store.db")
    kept = rows(tmp_path / "store.db")
    earlier = {**SECOND[1], "at": at(1.5)}
    late = write(tmp_path / "late.jsonl", [SECOND[0], earlier])

    result = autostart(tmp_path, "replay", late, "--store", "store.db")

    assert result.returncode == 2
    assert "line 2" in result.stderr
    assert "'at'" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert rows(tmp_path / "store.db") == kept


def test_the_same_traffic_gives_identical_decisions_and_events_in_two_stores(
    tmp_path: Path,
) -> None:
    traffic = write(tmp_path / "traffic.jsonl", [EXAMPLE])

    one = autostart(tmp_path, "replay", traffic, "--store", "one.db")
    two = autostart(tmp_path, "replay", traffic, "--store", "two.db")

    assert one.returncode == two.returncode == 0
    assert one.stdout
    assert one.stdout == two.stdout
    assert rows(tmp_path / "one.db") == rows(tmp_path / "two.db")


def big_traffic(lines: int) -> list[dict[str, Any]]:
    """Creates and updates of deals 201, 202, ... (template 11 comes from FIRST)."""
    traffic: list[dict[str, Any]] = []
    for i in range(1, lines + 1):
        when = at(10 + i / 60)
        if i % 3:
            traffic.append({"op": "create", "at": when, "element": f"crm.deal:{200 + i}",
                            "channel": "ui"})  # fmt: skip
        else:
            traffic.append({"op": "update", "at": when, "element": f"crm.deal:{199 + i}",
                            "channel": "ui", "changed": {"N": i}})  # fmt: skip
    return traffic


def test_a_killed_replay_leaves_no_trace_once_the_next_replay_runs(tmp_path: Path) -> None:
    first = write(tmp_path / "first.jsonl", FIRST)
    big = write(tmp_path / "big.jsonl", big_traffic(30_000))
    # The next replay creates a deal the killed one had created.
    after = write(tmp_path / "after.jsonl", [{**SECOND[1], "at": at(5)},
        {"op": "create", "at": at(6), "element": "crm.deal:201", "channel": "ui"}])  # fmt: skip
    for name in ("reference.db", "store.db"):
        assert autostart(tmp_path, "replay", first, "--store", name).returncode == 0
    store = tmp_path / "store.db"
    before = last_row(store)
    # Kill the big replay once it has committed a batch of its events.
    command = [sys.executable, "-m", "simulations.cli", "replay", big, "--store", "store.db"]
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL) as killed:
        deadline = time.monotonic() + 60
        while killed.poll() is None and time.monotonic() < deadline:
            if last_row(store) > before + 100:
                killed.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    app = open_store(parse_store(str(store)))
    try:
        assert app.element("crm.deal:250") is not None
    finally:
        app.close()
    reference = autostart(tmp_path, "replay", after, "--store", "reference.db")

    result = autostart(tmp_path, "replay", after, "--store", "store.db")

    assert result.returncode == 0, result.stderr
    assert result.stdout == reference.stdout
    assert rows(store) == rows(tmp_path / "reference.db")
    app = open_store(parse_store(str(store)))
    try:
        assert app.element("crm.deal:250") is None
    finally:
        app.close()


@pytest.mark.parametrize(
    "address", ["store.txt", "postgresql://postgres@127.0.0.1:5432/db", "mysql://u:p@h/db"]
)
def test_a_bad_store_address_is_refused_with_status_2(tmp_path: Path, address: str) -> None:
    traffic = write(tmp_path / "first.jsonl", FIRST)

    result = autostart(tmp_path, "replay", traffic, "--store", address)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--store" in result.stderr
    # Shown as given, but for its password.
    assert redacted(address) in result.stderr
    assert ":p@" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.jsonl"]


def test_a_missing_traffic_file_is_refused_with_status_2(tmp_path: Path) -> None:
    result = autostart(tmp_path, "replay", "missing.jsonl", "--store", "store.db")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "missing.jsonl" in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_starts_without_the_analysis_libraries() -> None:
    # pandas, pyarrow and matplotlib took two thirds of every command's start-up, `why` included:
    # only the commands that need them import them.
    code = (
        "import sys; import simulations.cli; "
        "print(sorted({'pandas', 'pyarrow', 'matplotlib'} & sys.modules.keys()))"
    )

    command = [sys.executable, "-c", code]
    loaded = subprocess.run(command, capture_output=True, text=True, check=True)

    assert loaded.stdout.strip() == "[]"
