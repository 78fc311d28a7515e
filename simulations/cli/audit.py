"""`autostart why`, `autostart check-one` and `autostart project`: the audit questions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from domain.stores import StoreAddress
from portal.explain import attach, element_audit, render_audit
from projections.database import ReadDatabase
from projections.explain import Query, UnknownElementError, explain
from projections.runner import catch_up, rebuild
from projections.suggestions import attach_fixes
from simulations.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    UsageError,
    add_store_option,
    end_progress,
    parse_time,
    progress,
    say,
    store_address,
)
from simulations.cli.fix import check_fix_options, run_fix
from simulations.dryrun import dry_run
from simulations.render import counted, render_checks
from simulations.render import render_explanation as render
from simulations.replay import open_store
from simulations.traffic import BadLineError


def read_models(store: StoreAddress) -> ReadDatabase:
    """The store's read models, caught up with every event first (a no-op when current).

    While a replay writes to the store they stay as its last finished replay left them.
    """
    app = open_store(store)
    db = ReadDatabase(store)
    try:
        catch_up(app, db, on_progress=progress("project", "events"), on_busy=_say_busy)
    except BaseException:
        db.close()
        raise
    finally:
        app.close()
    end_progress()
    return db


def _say_busy() -> None:
    end_progress()
    say("note: a replay is writing to this store: read models as of its last finished replay")


def cmd_why(args: argparse.Namespace) -> int:
    store = store_address(args, must_exist=True)
    until = parse_time(args.at, "--at") if args.at else None
    db = read_models(store)
    check_fix_options(args)
    try:
        explanation = explain(db, Query(args.element, until, args.template))
        attach_fixes(db, explanation)
        if args.fix is not None:
            return run_fix(args, db, explanation)
    except UnknownElementError as error:
        say(f"autostart why: {error}")
        return EXIT_BAD_INPUT
    finally:
        db.close()
    app = open_store(store)
    try:
        audit = element_audit(app, args.element)
    finally:
        app.close()
    if audit is not None:
        attach(explanation, audit)
    if args.json:
        json.dump(explanation, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n".join([render(explanation), *render_audit(explanation)]))
    return EXIT_OK


def cmd_check_one(args: argparse.Namespace) -> int:
    store = store_address(args, must_exist=True)
    text = sys.stdin.read() if args.line == "-" else args.line
    if Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise UsageError(f"expected exactly one traffic line, got {len(lines)}")
    _refuse_settings_line(lines[0])
    app = open_store(store)
    try:
        result = dry_run(app, lines[0])
    except BadLineError as error:
        say(f"autostart check-one: {error}; nothing was recorded")
        return EXIT_BAD_INPUT
    finally:
        app.close()
    for warning in result.warnings:
        say(f"warning: {warning}")
    decisions = result.as_dicts()
    if args.json:
        for decision in decisions:
            print(json.dumps(decision))
        return EXIT_OK
    if not decisions:
        print("no decision: no template of that document type, or a delete")
    print("\n\n".join(_render_dry(decision) for decision in decisions))
    return EXIT_OK


SETTINGS_OPS = {
    "portal": "the portal's settings",
    "container": "a list's or storage's switch",
    "template": "a template's configuration",
}


def _refuse_settings_line(text: str) -> None:
    """A settings line decides nothing by itself: say what it would change and where to look."""
    try:
        op = json.loads(text).get("op")
    except (ValueError, AttributeError):
        return  # not a JSON object: the dry run says what is wrong with it
    if op in SETTINGS_OPS:
        raise UsageError(
            f"a {op} line decides nothing: it changes {SETTINGS_OPS[op]} for the lines after "
            f"it. To see what it would change, replay traffic with it (whatif TRAFFIC --set ...)"
        )


def _render_dry(decision: dict[str, Any]) -> str:
    process = f" -> process {decision['process']}" if decision["process"] else ""
    head = (
        f"{decision['element']} {decision['trigger']} via {decision['channel']} "
        f"(depth {decision['depth']}): template {decision['template']} "
        f"v{decision['template_version']} would be {decision['outcome']} "
        f"{decision['reason']}{process}"
    )
    return "\n".join([head, *render_checks(decision["checks"], "    ", decision["reason"])])


def cmd_project(args: argparse.Namespace) -> int:
    store = store_address(args, must_exist=True)
    app = open_store(store)
    db = ReadDatabase(store)
    try:
        shown = progress("project", "events")
        if args.rebuild:
            folded = rebuild(app, db, on_progress=shown)
        else:
            folded = catch_up(app, db, on_progress=shown, on_busy=_say_busy)
    finally:
        db.close()
        app.close()
    end_progress()
    say(f"{'rebuilt from' if args.rebuild else 'caught up with'} {counted(folded, 'stored event')}")
    return EXIT_OK


def register(commands: Any) -> None:
    why = commands.add_parser(
        "why",
        help="explain why processes did or didn't start for an element",
        description=(
            "For every add and change of ELEMENT: the channel, the actor, what changed, and "
            "for every template of its document type the outcome, the reason, and every "
            "check in the SPEC's order with the values it looked at, its confidence and source; "
            "for a process that did not start, the smallest `whatif --set` changes under "
            "which it would have started, each proven by deciding that change again."
        ),
    )
    why.add_argument("element", metavar="ELEMENT", help="e.g. crm.deal:101")
    add_store_option(why)
    why.add_argument("--at", metavar="TIME", help="only what happened up to TIME (ISO-8601)")
    why.add_argument("--template", type=int, metavar="ID", help="only this template")
    why.add_argument("--json", action="store_true", help="one JSON document instead of text")
    why.add_argument(
        "--fix",
        type=int,
        metavar="N",
        help="replay suggestion N (numbered in the output) over --traffic: does that decision "
        "start, and what else does the change start and stop",
    )
    why.add_argument(
        "--traffic", metavar="FILE", help="with --fix: the traffic replayed into the store"
    )
    why.set_defaults(run=cmd_why)

    check = commands.add_parser(
        "check-one",
        help="say what one hypothetical traffic line would start, writing nothing",
        description=(
            "Decide one traffic line (an add or change, as in a traffic file) against the "
            "store's present state and explain every template's decision. Nothing is recorded."
        ),
    )
    check.add_argument("line", metavar="LINE", help="the JSON line, a file holding it, or -")
    add_store_option(check)
    check.add_argument("--json", action="store_true", help="JSON Lines instead of text")
    check.set_defaults(run=cmd_check_one)

    project = commands.add_parser(
        "project",
        help="catch the read models up with the store, or rebuild them",
        description="Fold new events into the read models (ledger, processes), or rebuild.",
    )
    add_store_option(project)
    project.add_argument("--rebuild", action="store_true", help="drop and fold every event")
    project.set_defaults(run=cmd_project)
