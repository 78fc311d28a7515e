"""The `autostart` command line: one module per group of commands."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import unquote, urlsplit

from portal import cli as portal
from portal.cli import collect
from projections.locks import StoreBusyError
from simulations.cli import audit, bench, export, notebooks, replay, report, simulate, whatif
from simulations.cli.common import EXIT_BAD_INPUT, EXIT_BUG, EXIT_INTERRUPTED, EXIT_OK, UsageError
from simulations.replay import StoreUnavailableError
from web import cli as web


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autostart",
        description="Model, simulate and audit how Bitrix24 starts business processes.",
    )
    parser.add_argument("--version", action="version", version=f"autostart {_version()}")
    _add_global_options(parser, False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        replay,
        audit,
        export,
        simulate,
        whatif,
        report,
        notebooks,
        bench,
        portal,
        collect,
        web,
    ):
        module.register(commands)
    for command in _commands(parser):
        # SUPPRESS: given before the command's name, the option is not reset after it.
        _add_global_options(command, argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    options = parser.add_argument_group("global options (any command, before or after its name)")
    options.add_argument(
        "--quiet", action="store_true", default=default, help="print no messages but errors"
    )
    options.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="print the traceback of an unexpected error (for a bug report)",
    )


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every command's parser, sub-commands too (`autostart portal pull`)."""
    for action in parser._actions:  # argparse has no public way to walk its sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield command
                yield from _commands(command)


def _version() -> str:
    try:
        return version("autostart-audit")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # The command's own usage, not the list of commands: the mistake is in its arguments.
        command = next(c for c in _commands(parser) if c.prog == f"{parser.prog} {args.command}")
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        code: int = args.run(args)
    except (UsageError, StoreUnavailableError, StoreBusyError) as error:
        print(f"autostart {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"autostart {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if args.debug:
            print(_redacted(traceback.format_exc(), args), file=sys.stderr, end="")
        message = _redacted(f"{type(error).__name__}: {error}", args)
        print(
            f"autostart {args.command}: unexpected error ({message}); this is a bug, please "
            "report it with what the same command prints with --debug",
            file=sys.stderr,
        )
        return EXIT_BUG
    return code


def _redacted(text: str, args: argparse.Namespace) -> str:
    """`text` without the store's password, should a library have quoted it."""
    store = getattr(args, "store", None)
    password = urlsplit(store).password if isinstance(store, str) and "://" in store else None
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(str(secret), "***")
    return text
