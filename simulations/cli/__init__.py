"""The `autostart` command line: one module per group of commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from portal import cli as portal
from portal.cli import collect
from projections.locks import StoreBusyError
from simulations.cli import audit, export, replay, report, simulate, whatif
from simulations.cli.common import EXIT_BAD_INPUT, EXIT_OK, UsageError
from simulations.replay import StoreUnavailableError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autostart",
        description="Model, simulate and audit how Bitrix24 starts business processes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (replay, audit, export, simulate, whatif, report, portal, collect):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (UsageError, StoreUnavailableError, StoreBusyError) as error:
        print(f"autostart {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
    return code
