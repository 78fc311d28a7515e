"""The `autostart` command line: one module per group of commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from portal import cli as portal
from projections.locks import StoreBusyError
from simulations.cli import audit, export, notebooks, replay, report, simulate, whatif
from simulations.cli.common import EXIT_BAD_INPUT, EXIT_OK, UsageError
from simulations.replay import StoreUnavailableError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autostart",
        description="Model, simulate and audit how Bitrix24 starts business processes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (replay, audit, export, simulate, whatif, report, notebooks, portal):
        module.register(commands)
    return parser


def _commands(parser: argparse.ArgumentParser) -> Any:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # The command's own usage, not the list of commands: the mistake is in its arguments.
        command = _commands(parser).choices[args.command]
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        code: int = args.run(args)
    except (UsageError, StoreUnavailableError, StoreBusyError) as error:
        print(f"autostart {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
    return code
