"""Exit statuses and global options: Ctrl-C, unexpected errors, --version, --quiet, --debug."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from replaying import autostart

from simulations.cli import build_parser


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulations.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_version_names_the_installed_package() -> None:
    result = run(Path(), "--version")

    assert result.returncode == 0
    assert result.stdout.strip() == f"autostart {version('autostart-audit')}"


@pytest.mark.parametrize(
    "argv",
    [
        ["--quiet", "--debug", "example"],
        ["example", "--quiet", "--debug"],
        ["--quiet", "why", "crm.deal:1", "--debug"],
        ["--debug", "replay", "t.jsonl", "--quiet"],
    ],
)
def test_quiet_and_debug_are_taken_before_or_after_any_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)

    assert (args.quiet, args.debug) == (True, True)


def test_quiet_and_debug_are_off_unless_given() -> None:
    args = build_parser().parse_args(["example"])

    assert (args.quiet, args.debug) == (False, False)


@pytest.mark.slow
def test_simulate_prints_its_warnings_on_stderr_unless_quiet(tmp_path: Path) -> None:
    common = ("simulate", "typical-cloud", "--lines", "300", "--max-depth", "0")

    loud = run(tmp_path, *common, "--store", "loud.db")
    quiet = run(tmp_path, *common, "--store", "quiet.db", "--quiet")

    assert loud.returncode == quiet.returncode == 0, loud.stderr
    assert "warning: line " in loud.stderr
    assert "runaway cascade stopped at depth 1" in loud.stderr
    assert "warning" not in loud.stdout
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout.replace("store loud.db", "store quiet.db")


def test_quiet_silences_the_portal_commands_messages_but_not_their_output(tmp_path: Path) -> None:
    example = run(tmp_path, "portal", "example", "snap", "--quiet")
    audit = run(tmp_path, "portal", "audit", "snap", "--store", "a.db", "--json", "--quiet")
    loud = run(tmp_path, "portal", "audit", "snap", "--store", "b.db", "--json")

    assert example.returncode == audit.returncode == loud.returncode == 0, audit.stderr
    assert example.stderr == audit.stderr == ""
    assert "audited" in loud.stderr
    assert audit.stdout == loud.stdout


@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line_and_records_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    running = subprocess.Popen(
        [sys.executable, "-m", "simulations.cli", "replay", "-", "--store", str(store)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert running.stdin is not None
    running.stdin.write('{"op": "portal", "licence": "paid"}\n')
    running.stdin.flush()
    time.sleep(3)  # started and waiting for more traffic

    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=60)

    assert running.returncode == 130
    assert stderr.strip() == "autostart replay: interrupted"
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT count(*) FROM stored_events").fetchone() == (0,)


def corrupt_store(tmp_path: Path) -> str:
    """A store whose event bodies are no longer what the program wrote (a damaged disk)."""
    store = str(tmp_path / "store.db")
    traffic = tmp_path / "t.jsonl"
    traffic.write_text(autostart("example")[1])
    assert autostart("replay", str(traffic), "--store", store)[0] == 0
    with closing(sqlite3.connect(store)) as db:
        db.execute("UPDATE stored_events SET state = x'00ff'")
        db.execute("DROP TABLE decisions")
        db.commit()
    return store


def test_an_unexpected_error_is_one_line_asking_for_a_bug_report(tmp_path: Path) -> None:
    store = corrupt_store(tmp_path)

    code, out, err = autostart("why", "crm.deal:101", "--store", store)

    assert code == 3
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "unexpected error" in err
    assert "bug" in err
    assert "--debug" in err
    assert "Traceback" not in err


def test_debug_adds_the_traceback_to_an_unexpected_error(tmp_path: Path) -> None:
    store = corrupt_store(tmp_path)

    code, _, err = autostart("why", "crm.deal:101", "--store", store, "--debug")

    assert code == 3
    assert err.startswith("Traceback (most recent call last):")
    assert err.strip().splitlines()[-1].startswith("autostart why: unexpected error")


@pytest.mark.postgres
def test_an_unexpected_error_on_postgresql_never_shows_the_password(
    postgres_url: str, tmp_path: Path
) -> None:
    traffic = tmp_path / "t.jsonl"
    traffic.write_text(autostart("example")[1])
    assert autostart("replay", str(traffic), "--store", postgres_url)[0] == 0
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE autostart_events SET state = '\\x00ff'::bytea")
        db.execute("DROP TABLE decisions")
    password = urlsplit(postgres_url).password or "?"

    plain = autostart("why", "crm.deal:101", "--store", postgres_url)
    debug = autostart("why", "crm.deal:101", "--store", postgres_url, "--debug")

    assert (plain[0], debug[0]) == (3, 3)
    assert "Traceback" in debug[2]
    for _, out, err in (plain, debug):
        assert password not in out + err.replace("autostart why:", "")
