"""`autostart scenarios|generate|simulate|check|faults`: traffic to try before switching on."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from domain.faults import FAULTS
from domain.stores import StoreAddress
from simulations.checker import Violation, check_store
from simulations.cli.audit import read_models
from simulations.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_OK,
    Phases,
    UsageError,
    add_lines_option,
    add_max_depth_option,
    add_store_option,
    lines_option,
    parse_time,
    say,
    store_address,
)
from simulations.generate import generate
from simulations.overrides import Override, OverrideError, parse_setting
from simulations.render import counted
from simulations.scenario import Scenario, ScenarioError, load, shipped
from simulations.simulate import (
    SimulationResult,
    StartTooEarlyError,
    StoreNotNewError,
    percentages,
    simulate,
)
from simulations.traffic import BadLineError


def _scenario(name: str) -> Scenario:
    try:
        return load(name)
    except ScenarioError as error:
        raise UsageError(str(error)) from None


def cmd_scenarios(args: argparse.Namespace) -> int:
    for name, path in sorted(shipped().items()):
        scenario = load(str(path))
        print(f"{name}\t{scenario.description}\t{_span(scenario)}")
    return EXIT_OK


def _span(scenario: Scenario) -> str:
    """What a default run covers: its lines, its calendar, and whether more lines stretch it."""
    model = scenario.traffic
    days = model.span_for(model.lines).total_seconds() / 86_400
    first = model.start.date().isoformat()
    if model.span_days is not None:
        span = f"{model.span_days:g} days"
        return f"{model.lines:,} lines over {span} from {first} (any --lines fill it)"
    return f"{model.lines:,} lines over about {days:.1f} days from {first} (--lines stretch it)"


def cmd_faults(args: argparse.Namespace) -> int:
    for fault in FAULTS.values():
        print(f"{fault.name}\t{fault.description}")
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    scenario = _scenario(args.scenario)
    start = parse_time(args.start, "--start") if args.start else None
    write = sys.stdout.write
    for line in generate(scenario, events=lines_option(args), seed=args.seed, start=start):
        write(line + "\n")
    return EXIT_OK


def _faults(names: list[str]) -> frozenset[str]:
    for name in names:
        if name not in FAULTS:
            raise UsageError(f"--fault {name!r}: expected one of {', '.join(FAULTS)}")
    return frozenset(names)


def _settings(given: list[str]) -> list[Override]:
    try:
        return [parse_setting(setting) for setting in given]
    except OverrideError as error:
        raise UsageError(f"--set {error}") from None


SHOWN_WARNINGS = 20


def cmd_simulate(args: argparse.Namespace) -> int:
    scenario = _scenario(args.scenario)
    store = store_address(args)
    count = lines_option(args)
    if store.path is not None and store.path.exists() and not args.continue_store:
        raise UsageError(_exists(store))
    start = parse_time(args.start, "--start") if args.start else None
    if start is not None and not args.continue_store:
        raise UsageError("--start continues a store's traffic: give it with --continue")
    settings = _settings(args.set)
    phases = Phases(f"simulate {scenario.name}", quiet=args.quiet)
    warnings: list[str] = []
    try:
        result = simulate(
            scenario,
            store,
            events=count,
            seed=args.seed,
            faults=_faults(args.fault),
            settings=settings,
            max_depth=args.max_depth,
            on_warning=warnings.append,
            start=start,
            new_store=not args.continue_store,
            on_progress=phases.tick,
            on_phase=phases.start,
        )
    except StoreNotNewError:
        raise UsageError(_exists(store)) from None
    except StartTooEarlyError as error:
        raise UsageError(f"--start {args.start}: {error}") from None
    except BadLineError as error:
        phases.abandon()
        say(f"autostart simulate: scenario {scenario.name} made a bad traffic {error}")
        return EXIT_BAD_INPUT
    phases.finish()
    if not args.quiet:
        say(f"simulate {scenario.name}: {render_phases(result.phases)}")
    for setting in result.unused_settings:
        say(f"warning: --set {setting}: scenario {scenario.name} has no such template")
    if not args.quiet:
        for message in warnings[:SHOWN_WARNINGS]:
            say(f"warning: {message}")
        if len(warnings) > SHOWN_WARNINGS:
            say(f"warning: and {len(warnings) - SHOWN_WARNINGS} more (autostart report lists them)")
        if store.kind == "memory":
            say("note: a memory: store keeps nothing once the command ends")
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(render_summary(result, store))
    return EXIT_CHECK_FAILED if result.violations else EXIT_OK


def render_phases(phases: dict[str, float]) -> str:
    """`phases: generate 3% · replay 61% · fold 27% · check 9% of 41.2 s`."""
    shares = percentages(list(phases.values()))
    parts = " · ".join(f"{name} {share}%" for name, share in zip(phases, shares, strict=True))
    return f"phases: {parts} of {sum(phases.values()):.1f} s"


def _exists(store: StoreAddress) -> str:
    return (
        f"{store.describe()} already holds a simulation: simulate starts a new store "
        "(remove it, pick another, or pass --continue to add to it)"
    )


def render_summary(result: SimulationResult, store: StoreAddress | None = None) -> str:
    summary = result.summary
    lines = [
        f"scenario {result.scenario}: {counted(result.replay.lines, 'traffic line')}, "
        f"{counted(result.replay.events, 'stored event')}, "
        f"{counted(summary['decisions'], 'decision')}"
        + (f"; store {store.path} now {_size(store.path)}" if store and store.path else "")
    ]
    by_outcome: dict[str, int] = defaultdict(int)
    by_reason: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for row in summary["by_outcome_reason_channel"]:
        by_outcome[row["outcome"]] += row["count"]
        by_reason[(row["outcome"], row["reason"])][row["channel"]] = row["count"]
    lines.append(
        "decisions by outcome: "
        + ", ".join(
            f"{o} {by_outcome.get(o, 0)}" for o in ("started", "queued", "rejected", "skipped")
        )
    )
    lines.append("by outcome, reason and channel:")
    for (outcome, reason), channels in sorted(by_reason.items()):
        ordered = sorted(channels.items(), key=lambda item: (-item[1], item[0]))
        lines.append(f"  {outcome:<8} {reason:<25} " + ", ".join(f"{c} {n}" for c, n in ordered))
    processes = summary["processes"]
    lines.append("processes: " + (", ".join(f"{s} {n}" for s, n in processes.items()) or "none"))
    cascades = summary["cascades"]
    lines.append(
        f"cascades: deepest {cascades['deepest']}, {cascades['process_made_decisions']} "
        f"process-made decisions, {len(cascades['runaways'])} runaways stopped"
    )
    for runaway in cascades["runaways"][:5]:
        chain = runaway["chain"]
        root = chain[0] if chain else {}
        lines.append(
            f"  runaway from traffic line {runaway['line']} on {runaway['element']}, "
            f"stopped at depth {runaway['depth']}: "
            f"{root.get('element')} {root.get('trigger')} via {root.get('channel')} -> "
            + " -> ".join(f"template {step['template']}" for step in chain[:4])
            + (f" -> ... ({len(chain)} steps)" if len(chain) > 4 else "")
        )
    lines.extend(render_violations(result.violations))
    return "\n".join(lines)


def _size(path: Path) -> str:
    size = sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal", "-journal")
        if Path(f"{path}{suffix}").exists()
    )
    return f"{size / 1e6:,.1f} MB" if size >= 1e6 else f"{size / 1e3:,.0f} kB"


def render_violations(violations: list[Violation]) -> list[str]:
    if not violations:
        return ["violations: none"]
    lines = [f"violations: {len(violations)}"]
    for v in violations[:50]:
        lines.append(
            f"  {v.law}: {v.element}, {v.event}: expected {v.expected}; happened {v.happened}"
        )
    if len(violations) > 50:
        lines.append(f"  ... and {len(violations) - 50} more (--json lists all)")
    return lines


def cmd_check(args: argparse.Namespace) -> int:
    store = store_address(args, must_exist=True)
    db = read_models(store)
    try:
        violations = check_store(db, max_depth=args.max_depth)
    finally:
        db.close()
    if args.json:
        for violation in violations:
            print(json.dumps(violation.as_dict()))
    else:
        print("\n".join(render_violations(violations)))
    return EXIT_CHECK_FAILED if violations else EXIT_OK


def register(commands: Any) -> None:
    scenarios = commands.add_parser(
        "scenarios", help="list the shipped scenarios", description="List shipped scenarios."
    )
    scenarios.set_defaults(run=cmd_scenarios)

    faults = commands.add_parser(
        "faults",
        help="list the faults that can be planted in the starter",
        description="List fault names for --fault, one a line.",
    )
    faults.set_defaults(run=cmd_faults)

    gen = commands.add_parser(
        "generate",
        help="write a scenario's traffic as JSON Lines to stdout",
        description="Stream the traffic of a scenario (a shipped name or a TOML path). "
        "The same scenario and seed give byte-identical output.",
    )
    gen.add_argument("scenario", metavar="SCENARIO", help="shipped name or path to .toml")
    add_lines_option(gen, "number of timed traffic lines (default: the scenario's)")
    gen.add_argument("--seed", type=int, help="random seed (default: scenario's)")
    gen.add_argument("--start", metavar="TIME", help="first time (default: the scenario's)")
    gen.set_defaults(run=cmd_generate)

    sim = commands.add_parser(
        "simulate",
        help="generate, replay, project and check a scenario in one run",
        description="Generate a scenario's traffic, replay it into a store, project the "
        "ledger and check the SPEC's laws. Exit status 1 when a law is violated.",
    )
    sim.add_argument("scenario", metavar="SCENARIO", help="shipped name or path to .toml")
    add_store_option(sim)
    sim.add_argument(
        "--continue",
        dest="continue_store",
        action="store_true",
        help="add to an existing store instead of refusing it; the new traffic starts at the "
        "store's clock, its elements after the store's",
    )
    sim.add_argument(
        "--start", metavar="TIME", help="with --continue: start the traffic at TIME, not before"
    )
    add_lines_option(sim, "number of timed traffic lines (default: the scenario's)")
    sim.add_argument("--seed", type=int, help="random seed (default: scenario's)")
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="plant a named fault in the starter (see autostart faults)",
    )
    add_max_depth_option(sim)
    sim.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting held for the whole run, as in whatif (e.g. portal.limit_policy=reject)",
    )
    sim.add_argument("--json", action="store_true", help="the summary as one JSON document")
    sim.set_defaults(run=cmd_simulate)

    check = commands.add_parser(
        "check",
        help="check the SPEC's laws on a store's ledger",
        description="Check the exclusion laws on the store. Exit status 1 on any violation.",
    )
    add_store_option(check)
    add_max_depth_option(check)
    check.add_argument("--json", action="store_true", help="violations as JSON Lines")
    check.set_defaults(run=cmd_check)
