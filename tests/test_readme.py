"""The README says only what is true: its commands run, its excerpts are what they print."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest
from collecting import CollectorPortal

from simulations.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
AUTOSTART = ".venv/bin/autostart"


def blocks() -> list[tuple[str, str]]:
    return [(kind, body) for kind, body in BLOCK.findall(README)]


PROJECT_FOLDERS = ("domain", "projections", "simulations", "portal", "web", "notebooks", "tests")
# Not run here: the notebooks take minutes (test_notebooks runs that command on one of them), and
# the collector is a service that runs until stopped, with `collect events` and `portal audit
# --collected` reading what it recorded (test_collector and test_portal_collected_audit run them
# against real collector processes); `serve` runs until stopped too (test_web_serve starts it as
# the README does).
NOT_RUN = (
    "notebooks",
    "collect --listen",
    "collect events",
    "portal audit --collected",
    "portal audit snapshot --collected",
    "serve",
)


def run_readme_commands(folder: Path) -> dict[str, str]:
    """Runs every `.venv/bin/autostart` line of the README's sh blocks, in order, in `folder`,
    with the webhook of a test portal on 127.0.0.1; returns each command's stdout by its line."""
    outputs = {}
    runner = f"{shlex.quote(sys.executable)} -m simulations.cli"
    portal = CollectorPortal()
    environment = {**os.environ, "AUTOSTART_WEBHOOK": portal.url}
    try:
        for kind, body in blocks():
            if kind != "sh":
                continue
            for line in body.replace("\\\n", " ").splitlines():
                if not line.startswith(AUTOSTART) or line.startswith(
                    tuple(f"{AUTOSTART} {command}" for command in NOT_RUN)
                ):
                    continue
                outputs[line] = run_readme_command(line, runner, folder, environment)
    finally:
        portal.close()
    return outputs


def run_readme_command(line: str, runner: str, folder: Path, environment: dict[str, str]) -> str:
    result = subprocess.run(
        line.replace(AUTOSTART, runner, 1),
        shell=True,
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, (line, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def excerpt_after(command: str, kind: str) -> str:
    """The first `kind` block after the sh block that holds `command`."""
    found = False
    for block_kind, body in blocks():
        if block_kind == "sh" and command in body:
            found = True
        elif found and block_kind == kind:
            return body
    raise AssertionError(f"no {kind} block after {command!r}")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return run_readme_commands(tmp_path_factory.mktemp("readme"))


def test_the_readmes_commands_run(outputs: dict[str, str]) -> None:
    assert len(outputs) >= 3


def test_the_decision_excerpt_is_the_first_decision_the_replay_prints(tmp_path: Path) -> None:
    example = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "example"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (tmp_path / "example.jsonl").write_text(example, encoding="utf-8")
    replayed = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "replay", "example.jsonl", "--store", "e.db"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip

    shown = excerpt_after("autostart replay example.jsonl", "json").strip()

    first = replayed.stdout.splitlines()[0]
    assert json.loads(shown) == json.loads(first)
    assert shown == first


def test_the_why_excerpt_is_what_why_prints_line_for_line(outputs: dict[str, str]) -> None:
    (command,) = [line for line in outputs if " why " in line]
    shown = excerpt_after(command, "text").splitlines()

    printed = outputs[command].splitlines()

    assert shown[-1] == "..."
    assert shown[:-1] == printed[: len(shown) - 1]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    group = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    return cast(dict[str, argparse.ArgumentParser], group.choices)


def test_every_command_and_option_in_the_readmes_table_exists() -> None:
    section = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    commands = subcommands(build_parser())
    checked = 0

    for row in table:
        cell = row.split("|")[1]
        names = re.findall(r"`([a-z-]+)[ `]", cell)
        options = re.findall(r"(--[a-z-]+)", cell)
        for name in names:
            assert name in commands, name
            command = commands[name]
            nested = re.search(rf"`{name} ([a-z]+)", cell)  # `portal pull`: its own options
            if nested and command._subparsers is not None:
                command = subcommands(command)[nested[1]]
            help_text = command.format_help()
            for option in options:
                assert option in help_text or option == "--set", (name, option)
            checked += 1

    assert checked >= 15


def test_the_readme_speaks_of_lines_not_events_and_names_real_settings() -> None:
    sources = "".join(
        path.read_text(encoding="utf-8")
        for folder in (
            "domain",
            "projections",
            "simulations",
            "portal",
            "web",
            "notebooks",
            "tests",
        )
        for path in (ROOT / folder).rglob("*.py")
    )
    variables = set(re.findall(r"AUTOSTART_[A-Z_]+", README))

    (mention,) = [s for s in README.replace("\n", " ").split(";") if "--events" in s]
    assert "deprecated" in mention
    assert variables
    assert all(f'"{variable}"' in sources for variable in variables), variables
    extras = re.findall(r"`\[([a-z]+)\]`", README)
    assert len(extras) >= 5
    for extra in extras:
        assert f"\n{extra} = [" in (ROOT / "pyproject.toml").read_text(encoding="utf-8"), extra
