"""What a simulate run says and covers: its calendar, its counts, continuing, and its phases."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulations.generate import generate
from simulations.scenario import load
from simulations.simulate import percentages

START = datetime.fromisoformat("2026-03-02T09:00:00+03:00")


def autostart(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulations.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def times(lines: list[str]) -> list[datetime]:
    return [datetime.fromisoformat(a) for a in (json.loads(t).get("at") for t in lines) if a]


@pytest.mark.parametrize("count", [2000, 20000])
def test_typical_cloud_fills_its_stated_month_whatever_the_line_count(count: int) -> None:
    scenario = load("typical-cloud")

    at = times(list(generate(scenario, events=count)))

    assert scenario.traffic.span_days == 30
    assert START <= at[0] < START + timedelta(hours=2)
    assert START + timedelta(days=28) < at[-1] < START + timedelta(days=32)
    assert count <= len(at) <= count + 10


def test_the_scenarios_command_states_what_a_default_run_covers() -> None:
    result = autostart("scenarios")

    rows = {line.split("\t")[0]: line.split("\t")[2] for line in result.stdout.splitlines()}
    assert result.returncode == 0
    assert (
        rows["typical-cloud"] == "20,000 lines over 30 days from 2026-03-02 (any --lines fill it)"
    )
    assert re.fullmatch(r"20,000 lines over about \d+\.\d days from 2026-03-02 \(--lines "
                        r"stretch it\)", rows["heavy-import"])  # fmt: skip


def test_lines_counts_traffic_lines_and_events_is_a_deprecated_alias_saying_so() -> None:
    by_lines = autostart("generate", "heavy-import", "--lines", "40")
    by_events = autostart("generate", "heavy-import", "--events", "40")

    assert by_lines.returncode == by_events.returncode == 0
    assert by_lines.stdout == by_events.stdout
    assert "--events is deprecated" in by_events.stderr
    assert by_lines.stderr == ""
    assert "--events" not in autostart("generate", "--help").stdout


@pytest.mark.parametrize("count", ["0", "-5", "ten"])
def test_a_line_count_below_one_is_bad_input(count: str) -> None:
    result = autostart("simulate", "typical-cloud", "--store", "memory:", "--lines", count)

    assert result.returncode == 2
    assert f"argument --lines: expected a whole number of 1 or more, got '{count}'" in (
        result.stderr
    )
    assert result.stdout == ""


def test_replay_and_rebuild_count_the_same_stored_events(tmp_path: Path) -> None:
    traffic = tmp_path / "example.jsonl"
    traffic.write_text(autostart("example").stdout, encoding="utf-8")

    replayed = autostart("replay", str(traffic), "--store", "s.db", "--decisions", "d.jsonl",
                         cwd=tmp_path)  # fmt: skip
    rebuilt = autostart("project", "--rebuild", "--store", "s.db", cwd=tmp_path)

    stored = re.search(
        r"traffic lines into .*: \d+ decisions, (\d+) stored events", replayed.stderr
    )
    assert stored is not None, replayed.stderr
    assert rebuilt.stderr.strip() == f"rebuilt from {stored[1]} stored events"


def test_a_memory_store_says_it_keeps_nothing() -> None:
    result = autostart("simulate", "loop-prone", "--store", "memory:", "--lines", "50")

    assert result.returncode == 0, result.stderr
    assert "a memory: store keeps nothing once the command ends" in result.stderr


def _continue_twice(store: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], ...]:
    args = ("simulate", "typical-cloud", "--lines", "600", "--store", store, "--json")
    first = autostart(*args, cwd=cwd)
    refused = autostart(*args, cwd=cwd)
    second = autostart(*args, "--continue", cwd=cwd)
    return first, refused, second


def test_simulate_continues_a_sqlite_store_after_its_clock_and_its_ids(tmp_path: Path) -> None:
    first, refused, second = _continue_twice("s.db", tmp_path)
    early = autostart("simulate", "typical-cloud", "--lines", "50", "--store", "s.db",
                      "--continue", "--start", "2026-03-02T09:00:00+03:00",
                      cwd=tmp_path)  # fmt: skip

    assert first.returncode == 0, first.stderr
    assert refused.returncode == 2
    assert "already holds a simulation" in refused.stderr
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["violations"] == []
    assert json.loads(second.stdout)["decisions"] > json.loads(first.stdout)["decisions"]
    assert early.returncode == 2
    # Two months of the scenario: the second follows the first's clock.
    assert re.search(r"--start 2026-03-02T09:00:00\+03:00: the store's clock is at 2026-0[45]-",
                     early.stderr)  # fmt: skip


@pytest.mark.postgres
@pytest.mark.slow
def test_simulate_refuses_and_continues_a_postgresql_store_as_a_sqlite_one(
    postgres_url: str, tmp_path: Path
) -> None:
    first, refused, second = _continue_twice(postgres_url, tmp_path)

    assert first.returncode == 0, first.stderr
    assert refused.returncode == 2
    assert "already holds a simulation" in refused.stderr
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["violations"] == []
    password = postgres_url.split(":")[2].split("@", maxsplit=1)[0]
    assert f":{password}@" in postgres_url
    assert f":{password}@" not in first.stderr + refused.stderr + second.stderr


def test_a_piped_simulate_says_one_line_per_phase(tmp_path: Path) -> None:
    result = autostart("simulate", "typical-cloud", "--lines", "500", "--store", "s.db",
                       cwd=tmp_path)  # fmt: skip

    phases = result.stderr.splitlines()
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[1].split()[0] for line in phases] == [
        "replay", "project", "check", "phases"
    ]  # fmt: skip
    assert re.fullmatch(r"simulate typical-cloud: replay 51\d traffic lines in \d+\.\d s",
                        phases[0])  # fmt: skip
    assert "\r" not in result.stderr


def test_simulate_says_each_phase_share_of_its_time_and_quiet_hides_it(tmp_path: Path) -> None:
    shown = autostart("simulate", "typical-cloud", "--lines", "1000", "--store", "s.db",
                      "--json", cwd=tmp_path)  # fmt: skip
    quiet = autostart("simulate", "typical-cloud", "--lines", "1000", "--store", "q.db",
                      "--json", "--quiet", cwd=tmp_path)  # fmt: skip

    assert shown.returncode == 0, shown.stderr
    line = shown.stderr.splitlines()[-1]
    found = re.fullmatch(
        r"simulate typical-cloud: phases: generate (\d+)% · replay (\d+)% · fold (\d+)% · "
        r"check (\d+)% of (\d+\.\d) s",
        line,
    )
    assert found, line
    assert sum(int(share) for share in found.groups()[:4]) == 100
    assert int(found[2]) > 0
    phases = json.loads(shown.stdout)["phases"]
    assert list(phases) == ["generate", "replay", "fold", "check"]
    assert sum(phase["percent"] for phase in phases.values()) == 100
    assert all(phase["seconds"] > 0 for phase in phases.values())
    assert abs(sum(p["seconds"] for p in phases.values()) - float(found[5])) < 0.1
    assert quiet.returncode == 0, quiet.stderr
    assert "phases" not in quiet.stderr
    assert list(json.loads(quiet.stdout)["phases"]) == list(phases)


def test_simulate_on_a_terminal_shows_a_running_count(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "simulations.cli", "simulate", "typical-cloud",
         "--lines", "4500", "--store", "s.db"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=terminal,
    ) as process:  # fmt: skip
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=300) == 0
    os.close(controller)

    text = shown.decode()
    assert re.search(r"\rsimulate typical-cloud: replay [\d,]+ traffic lines, [\d,]+/s", text)
    assert "project" in text


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=8))
def test_phase_shares_are_whole_percentages_adding_up_to_100(seconds: list[float]) -> None:
    shares = percentages(seconds)

    total = sum(seconds)
    assert len(shares) == len(seconds)
    assert sum(shares) == (100 if total > 0 else 0)
    for share, part in zip(shares, seconds, strict=True):
        assert abs(share - 100 * part / (total or 1)) < 1
