"""`autostart why ELEMENT --fix N --traffic FILE`: a suggested change, replayed and weighed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from projections.database import ReadDatabase
from simulations.cli.common import EXIT_BAD_INPUT, EXIT_OK, UsageError, say
from simulations.cli.whatif import render as render_whatif
from simulations.replay import read_lines
from simulations.suggest import FixReplay, replay_fix
from simulations.traffic import BadLineError
from simulations.whatif import OverrideError


def check_fix_options(args: argparse.Namespace) -> None:
    """`--fix` needs `--traffic` and a number from 1; `--traffic` alone means nothing."""
    if args.fix is None and args.traffic is None:
        return
    if args.fix is None:
        raise UsageError("--traffic FILE goes with --fix N (the suggestion to replay)")
    if args.traffic is None:
        raise UsageError("--fix N needs --traffic FILE: the traffic replayed into the store")
    if args.fix < 1:
        raise UsageError(f"--fix {args.fix}: expected a suggestion number from 1")
    if not Path(args.traffic).is_file():
        raise UsageError(f"--traffic {args.traffic}: no such traffic file")


def recorded_line(db: ReadDatabase, line: int) -> list[dict[str, Any]]:
    """The store's decisions on one traffic line, in the order made."""
    return db.query(
        "SELECT id, line, depth, element, trigger, channel, template, outcome, reason "
        "FROM decisions WHERE line = ? ORDER BY id",
        (line,),
    )


def run_fix(args: argparse.Namespace, db: ReadDatabase, explanation: dict[str, Any]) -> int:
    """Replays suggestion `args.fix` over `args.traffic` and prints what it does."""
    numbers = [
        s["number"]
        for c in explanation["changes"]
        for d in c["decisions"]
        for s in d.get("fixes", {}).get("suggestions", [])
    ]
    if args.fix not in numbers:
        known = f"1 to {max(numbers)}" if numbers else "none: every decision shown started"
        raise UsageError(f"--fix {args.fix}: no such suggestion (shown: {known})")
    line = next(
        c["line"]
        for c in explanation["changes"]
        for d in c["decisions"]
        for s in d.get("fixes", {}).get("suggestions", [])
        if s["number"] == args.fix
    )
    try:
        result = replay_fix(
            explanation, args.fix, recorded_line(db, line), lambda: read_lines(args.traffic)
        )
    except (BadLineError, OverrideError) as error:
        say(f"autostart why: --traffic {args.traffic} {error}")
        return EXIT_BAD_INPUT
    except StopIteration:
        say(
            f"autostart why: --traffic {args.traffic}: the store's decision is not on its line "
            f"{line}: give the traffic file replayed into the store"
        )
        return EXIT_BAD_INPUT
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_fix(result))
    return EXIT_OK


def render_fix(result: FixReplay) -> str:
    decision, change = result.decision, result.change
    head = (
        f"fix #{result.number} for {decision['element']}, template {decision['template']}, "
        f"{change['trigger']} at traffic line {change['line']} (depth {change['depth']}): "
        f"recorded {decision['outcome']} {decision['reason']}"
    )
    if result.now is None:
        now = "replayed with it: no such decision is made (its cascade no longer happens)"
    else:
        now = f"replayed with it: {result.now['outcome']} {result.now['reason']}"
    lines = [head, "  " + now]
    if result.suggestion["warning"]:
        lines.append(f"  warning: {result.suggestion['warning']}")
    lines.extend(["", render_whatif(result.diff)])
    return "\n".join(lines)
