"""What the commands say in small things: answers as of a time, counts, portal lines, bad JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulations.cli import main
from simulations.traffic import BadLineError, parse_line

AT_0915 = "2026-03-02T09:15:00+03:00"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("words")
    traffic = folder / "example.jsonl"
    traffic.write_text(_example(), encoding="utf-8")
    assert main(["replay", str(traffic), "--store", str(folder / "s.db"),
                 "--decisions", str(folder / "d.jsonl")]) == 0  # fmt: skip
    return folder / "s.db"


def _example() -> str:
    from importlib import resources  # noqa: PLC0415

    return resources.files("simulations").joinpath("examples", "portal.jsonl").read_text("utf-8")


def _why(store: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["why", "crm.deal:101", "--store", str(store), "--template", "11", "--json",
                 *args]) == 0  # fmt: skip
    answer: dict[str, object] = json.loads(capsys.readouterr().out)
    return answer


def test_why_at_a_past_time_shows_each_process_as_it_stood_then(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = _why(store, capsys)
    then = _why(store, capsys, "--at", AT_0915)

    first_now = now["changes"][0]["decisions"][0]["process_status"]  # type: ignore[index]
    first_then = then["changes"][0]["decisions"][0]["process_status"]  # type: ignore[index]
    assert first_now["status"] == "completed"
    assert first_now["ended_at"] == "2026-03-02T10:00:00+03:00"
    assert first_then == {**first_now, "status": "running", "ended_at": None}


def test_why_at_a_time_before_a_queued_start_shows_it_queued(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    then = _why(store, capsys, "--at", "2026-03-02T09:30:00+03:00")

    statuses = [
        d["process_status"]
        for change in then["changes"]  # type: ignore[attr-defined]
        for d in change["decisions"]
        if d["outcome"] == "queued"
    ]
    assert statuses
    assert statuses[0]["status"] == "queued"
    assert statuses[0]["started_at"] is None


def test_why_says_plainly_when_a_configuration_was_set_and_counts_agree(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["why", "crm.deal:102", "--store", str(store), "--template", "12"])

    text = capsys.readouterr().out
    assert "(no actor given)" not in text
    assert "at (before the first timed line)" not in text
    assert "set before the first timed line" in text
    assert "1 changes" not in text


def test_check_one_refuses_a_portal_line_saying_what_it_would_change(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check-one", '{"op":"portal","plan":"basic"}', "--store", str(store)])

    err = capsys.readouterr().err
    assert code == 2
    assert "a portal line decides nothing" in err
    assert "whatif" in err


@pytest.mark.parametrize("end", ["", "\n", "\r\n"])
def test_json_missing_its_closing_brace_is_reported_where_it_broke(end: str) -> None:
    text = '{"op":"delete","at":"2026-03-02T09:00:00+03:00","element":"crm.deal:1"'

    with pytest.raises(BadLineError) as error:
        parse_line(text + end, 4)

    assert "line 4" in str(error.value)
    assert f"column {len(text) + 1}" in str(error.value)


def test_an_unknown_argument_shows_the_commands_own_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["whatif", "traffic.jsonl", "--set", "portal.plan", "basic"])

    err = capsys.readouterr().err
    assert exit_status.value.code == 2
    assert err.startswith("usage: autostart whatif ")
    assert "autostart whatif: error: unrecognized arguments: basic" in err


def test_simulate_warns_of_a_setting_for_a_template_the_scenario_lacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["simulate", "loop-prone", "--store", "memory:", "--lines", "30",
                 "--set", "template.77.active=false",
                 "--set", "template.301.duration=60"])  # fmt: skip

    err = capsys.readouterr().err
    assert code == 0
    assert "warning: --set template.77.active=false: scenario loop-prone has no such template" in (
        err
    )
    assert "template.301" not in err


def test_counts_agree_with_their_nouns_in_one() -> None:
    from simulations.render import counted  # noqa: PLC0415

    assert [counted(1, "line"), counted(2, "line"), counted(1, "process", "processes")] == [
        "1 line",
        "2 lines",
        "1 process",
    ]
    assert counted(1500, "process", "processes") == "1,500 processes"
