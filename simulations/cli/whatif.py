"""`autostart whatif`: the processes a traffic file gains and loses under other settings."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulations.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    UsageError,
    end_progress,
    progress,
    say,
)
from simulations.replay import read_lines
from simulations.traffic import BadLineError
from simulations.whatif import (
    Example,
    Override,
    OverrideError,
    Tally,
    WhatIfDiff,
    parse_setting,
    whatif,
)

NO_DECISION = "(no decision)"


def cmd_whatif(args: argparse.Namespace) -> int:
    if args.examples < 0:
        raise UsageError(f"--examples {args.examples}: expected a count from 0 up")
    overrides = _overrides(args.set)
    if args.traffic != "-" and not Path(args.traffic).is_file():
        raise UsageError(f"{args.traffic}: no such traffic file")
    shown = {run: progress(f"whatif {run}") for run in ("recorded", "changed")}
    with _readable_twice(args.traffic) as traffic:
        try:
            diff = whatif(
                traffic,
                overrides,
                examples=args.examples,
                in_memory=args.in_memory,
                on_progress=lambda run, count: shown[run](count),
            )
        except OverrideError as error:
            raise UsageError(f"--set {error}") from None
        except BadLineError as error:
            end_progress()
            say(f"autostart whatif: {args.traffic} {error}")
            return EXIT_BAD_INPUT
    end_progress()
    for setting in diff.unused:
        say(f"warning: {setting}: no line of the traffic creates that template")
    if args.json:
        json.dump(diff.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(diff))
    return EXIT_OK


def _overrides(settings: list[str]) -> list[Override]:
    try:
        return [parse_setting(setting) for setting in settings]
    except OverrideError as error:
        raise UsageError(f"--set {error}") from None


@contextmanager
def _readable_twice(path: str) -> Iterator[Callable[[], Iterable[str]]]:
    """The traffic, readable twice; standard input is copied to a temporary file first."""
    if path != "-":
        yield lambda: read_lines(path)
        return
    with tempfile.TemporaryDirectory(prefix="autostart-whatif-") as folder:
        copy = Path(folder) / "traffic.jsonl"
        with copy.open("wb") as handle:
            if isinstance(sys.stdin, io.TextIOWrapper):
                shutil.copyfileobj(sys.stdin.buffer, handle)  # bytes as they came
            else:
                handle.write(sys.stdin.read().encode("utf-8"))
        yield lambda: read_lines(str(copy))


def render(diff: WhatIfDiff) -> str:
    """The difference as text for a person: totals, then one table per grouping."""
    lines = [
        f"what if {', '.join(diff.settings)} ({diff.lines} traffic lines)",
        f"  decisions: {diff.recorded_decisions} recorded, "
        f"{diff.changed_decisions} with the change"
        + (
            f" (warnings: {diff.recorded_warnings} recorded, {diff.changed_warnings} with it)"
            if diff.recorded_warnings or diff.changed_warnings
            else ""
        ),
        f"  processes (started or queued): {diff.gained} gained, {diff.lost} lost",
        f"  decisions changed: {diff.outcome_changed} outcome, {diff.reason_changed} reason; "
        f"made only as recorded: {diff.only_recorded}, only with the change: {diff.only_changed}",
    ]
    if diff.empty:
        lines.append("no difference: every decision has the same outcome and reason")
        return "\n".join(lines)
    if not diff.gained and not diff.lost:
        return "\n".join(lines)
    tables: list[tuple[str, list[tuple[str, Tally]]]] = [
        ("template", [(str(key), diff.by_template[key]) for key in sorted(diff.by_template)]),
        ("channel", _ranked(diff.by_channel)),
        ("reason", _ranked(diff.by_reason)),
    ]
    width = max(len(name) for _, rows in tables for name, _ in rows) + 2
    for title, rows in tables:
        lines.extend(["", f"by {title:<{width - 3}} gained   lost  examples"])
        lines.extend(
            f"  {name:<{width}}{tally.gained:>6} {tally.lost:>6}  {_examples(tally)}"
            for name, tally in rows
        )
    lines.append("")
    lines.append(
        "(by reason: a gained process under the reason it had as recorded, "
        "a lost one under the reason it gets with the change)"
    )
    return "\n".join(lines)


def _ranked(groups: dict[Any, Tally]) -> list[tuple[str, Tally]]:
    rows = [(NO_DECISION if key is None else str(key), tally) for key, tally in groups.items()]
    return sorted(rows, key=lambda row: (-row[1].gained - row[1].lost, row[0]))


def _examples(tally: Tally) -> str:
    def listed(examples: list[Example]) -> str:
        return ", ".join(f"{e.element} (line {e.line})" for e in examples)

    parts = []
    if tally.gained_examples:
        parts.append("gained: " + listed(tally.gained_examples))
    if tally.lost_examples:
        parts.append("lost: " + listed(tally.lost_examples))
    return "; ".join(parts)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "whatif",
        help="replay traffic under other settings and show the processes gained and lost",
        description=(
            "Replay a traffic file as it is and again as if the --set values had been the "
            "configuration all along (each line setting that key gets the value, and the "
            "value holds from the first line), both in throw-away stores, and compare the "
            "decisions: processes gained and lost per template, channel and reason, with "
            "example elements. Keys: template.<id>.<field> (auto_execute, active, duration, "
            "parameters, constants, actions), portal.<key> (e.g. plan, licence, "
            "limit_simultaneous_processes, features.bizproc), "
            "container.<document type>.bizproc_enabled. Values are JSON (true, 3, [...]) "
            "or plain strings."
        ),
    )
    parser.add_argument("traffic", metavar="TRAFFIC", help="traffic file, or - for stdin")
    parser.add_argument(
        "--set",
        action="append",
        required=True,
        metavar="KEY=VALUE",
        help="a setting to force, e.g. template.11.auto_execute=3 (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text")
    parser.add_argument(
        "--examples",
        type=int,
        default=3,
        metavar="N",
        help="example elements per group (default 3)",
    )
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="replay in memory rather than in a temporary SQLite file: no disk space, but "
        "memory grows by about 0.9 KB a stored event (4 GB for a million traffic lines), "
        "and no faster",
    )
    parser.set_defaults(run=cmd_whatif)
