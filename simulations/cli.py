"""The `autostart` command line."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import IO

from domain.starter import MAX_CASCADE_DEPTH
from domain.stores import DEFAULT_STORE, StoreAddressError, parse_store
from simulations.replay import open_store, read_lines, replay
from simulations.traffic import BadLineError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


def _progress(label: str) -> Callable[[int], None]:
    """A one-line progress counter on a terminal; silent when stderr is piped."""
    if not sys.stderr.isatty():
        return lambda _: None
    started = time.monotonic()
    last = [0.0]

    def show(lines: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2:
            return
        last[0] = now
        rate = lines / max(now - started, 1e-9)
        sys.stderr.write(f"\r{label}: {lines:,} lines, {rate:,.0f} lines/s")
        sys.stderr.flush()

    return show


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        store = parse_store(args.store)
    except StoreAddressError as error:
        raise UsageError(f"--store {args.store!r}: {error}") from None
    if args.traffic != "-" and not Path(args.traffic).is_file():
        raise UsageError(f"{args.traffic}: no such traffic file")
    created = store.path is not None and not store.path.exists()
    app = open_store(store)
    try:
        summary = replay(
            app,
            read_lines(args.traffic),
            _deliver_to(args.decisions),
            source=args.traffic,
            max_depth=args.max_depth,
            on_warning=_warn,
            on_progress=_progress(f"replay {args.traffic}"),
        )
    except BadLineError as error:
        app.close()
        if created and store.path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{store.path}{suffix}").unlink(missing_ok=True)
        _end_progress()
        print(f"autostart replay: {args.traffic} {error}; nothing was recorded", file=sys.stderr)
        return EXIT_BAD_INPUT
    app.close()
    _end_progress()
    print(
        f"replayed {summary.lines} lines into {store.describe()}: "
        f"{summary.decisions} decisions, {summary.events} events"
        + (f", {summary.warnings} warnings" if summary.warnings else ""),
        file=sys.stderr,
    )
    return EXIT_OK


def _deliver_to(target: str) -> Callable[[IO[str]], None]:
    """Copies finished output to stdout, or replaces FILE whole (never half-written)."""

    def deliver(source: IO[str]) -> None:
        if target == "-":
            shutil.copyfileobj(source, sys.stdout)
            sys.stdout.flush()
            return
        path = Path(target)
        partial = path.with_name(f".{path.name}.partial")
        with partial.open("w", encoding="utf-8") as handle:
            shutil.copyfileobj(source, handle)
        partial.replace(path)

    return deliver


def _end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def cmd_example(args: argparse.Namespace) -> int:
    name = f"{args.name}.jsonl"
    try:
        text = resources.files("simulations").joinpath("examples", name).read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(f"no example named {args.name!r}") from None
    sys.stdout.write(text)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autostart",
        description="Model, simulate and audit how Bitrix24 starts business processes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay_parser = commands.add_parser(
        "replay",
        help="apply a traffic file to a store and print its decisions",
        description=(
            "Apply a traffic file (JSON Lines, see the SPEC) to a store and write one "
            "decision per line. All or nothing: a bad line is reported with its line "
            "number and field, exit status 2, and the store is left as it was."
        ),
    )
    replay_parser.add_argument("traffic", metavar="TRAFFIC", help="traffic file, or - for stdin")
    replay_parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help="PATH.db or sqlite:///PATH, memory:, or postgresql://USER:PASSWORD@HOST:PORT/DB "
        f"(default {DEFAULT_STORE}); replaying into an existing store continues it",
    )
    replay_parser.add_argument(
        "--decisions",
        default="-",
        metavar="FILE",
        help="where to write the decisions as JSON Lines (default - for stdout)",
    )
    replay_parser.add_argument(
        "--max-depth",
        type=int,
        default=MAX_CASCADE_DEPTH,
        help=f"deepest process-made change applied before a cascade is stopped "
        f"(default {MAX_CASCADE_DEPTH})",
    )
    replay_parser.set_defaults(run=cmd_replay)

    example_parser = commands.add_parser(
        "example",
        help="print an example traffic file shipped with the package",
        description="Print an example traffic file (CRM, Feed and Drive) to stdout.",
    )
    example_parser.add_argument("--name", default="portal", help="example name (default portal)")
    example_parser.set_defaults(run=cmd_example)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except UsageError as error:
        print(f"autostart {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
