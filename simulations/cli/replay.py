"""`autostart replay` and `autostart example`: traffic into a store, decisions out."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from collections.abc import Callable
from contextlib import ExitStack, suppress
from importlib import resources
from pathlib import Path
from typing import IO, Any

from domain.application import AutostartApplication
from domain.stores import StoreAddress
from projections.database import ReadDatabase
from projections.runner import catch_up
from projections.written import WrittenPages
from simulations.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    UsageError,
    add_max_depth_option,
    add_store_option,
    end_progress,
    output_file,
    progress,
    say,
    store_address,
)
from simulations.render import counted
from simulations.replay import (
    AlreadyRecordedError,
    ReplaySummary,
    open_store,
    read_lines,
    replay,
)
from simulations.traffic import BadLineError


def cmd_replay(args: argparse.Namespace) -> int:
    store = store_address(args)
    if args.traffic != "-" and not Path(args.traffic).is_file():
        raise UsageError(f"{args.traffic}: no such traffic file")
    created = store.path is not None and not store.path.exists()
    new_folders = [] if store.path is None else _missing_folders(store.path)
    app = open_store(store)
    try:
        summary = _replay_and_fold(app, store, args)
    except BadLineError as error:
        app.close()
        if created and store.path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{store.path}{suffix}").unlink(missing_ok=True)
            for folder in new_folders:
                folder.rmdir()
        end_progress()
        say(f"autostart replay: {args.traffic} {error}; nothing was recorded")
        return EXIT_BAD_INPUT
    app.close()
    end_progress()
    if summary is None:
        say(
            f"autostart replay: {args.traffic} is the traffic the last replay into "
            f"{store.describe()} recorded in full, its decisions delivered then; nothing was "
            "applied again (autostart decisions lists them)"
        )
        return EXIT_OK
    if args.quiet:
        return EXIT_OK
    say(
        f"replayed {counted(summary.lines, 'traffic line')} into {store.describe()}: "
        f"{counted(summary.decisions, 'decision')}, {counted(summary.events, 'stored event')}"
        + (f", {counted(summary.warnings, 'warning')}" if summary.warnings else "")
        + _vanishes(store)
    )
    return EXIT_OK


def _replay_and_fold(
    app: AutostartApplication, store: StoreAddress, args: argparse.Namespace
) -> ReplaySummary | None:
    """Replays the traffic, then catches the read models up; None when already recorded."""
    summary: ReplaySummary | None = None
    with ExitStack() as stack:
        # The read models' rows, folded as the events are written (a memory store has none).
        written = None if store.kind == "memory" else stack.enter_context(WrittenPages())
        # Already recorded: run again after a kill, its read models may still need catching up.
        with suppress(AlreadyRecordedError):
            summary = _replay(app, args, written)
        if written is not None:
            db = ReadDatabase(store)
            try:
                catch_up(app, db, on_progress=progress("project", "events"), written=written)
            finally:
                db.close()
    return summary


def _replay(
    app: AutostartApplication, args: argparse.Namespace, written: WrittenPages | None
) -> ReplaySummary:
    return replay(
        app,
        read_lines(args.traffic),
        _deliver_to(args.decisions),
        source=args.traffic,
        max_depth=args.max_depth,
        on_warning=(lambda _: None) if args.quiet else lambda m: say(f"warning: {m}"),
        on_progress=progress(f"replay {args.traffic}"),
        digest=_digest(args.traffic),
        on_stored=None if written is None else written.stored,
    )


def _digest(traffic: str) -> str:
    """The traffic file's SHA-256 ("" for standard input, which cannot be read twice)."""
    if traffic == "-":
        return ""
    sha = hashlib.sha256()
    with Path(traffic).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _vanishes(store: StoreAddress) -> str:
    if store.kind != "memory":
        return ""
    return " (memory: keeps nothing once the command ends; give a .db path to keep the store)"


def _missing_folders(path: Path) -> list[Path]:
    """The folders above `path` that do not exist yet, deepest first."""
    return [folder for folder in path.absolute().parents if not folder.exists()]


def _deliver_to(target: str) -> Callable[[IO[str]], None]:
    """Copies finished output to stdout, or replaces FILE whole (never half-written)."""

    def deliver(source: IO[str]) -> None:
        if target == "-":
            shutil.copyfileobj(source, sys.stdout)
            sys.stdout.flush()
            return
        with output_file(target) as handle:
            shutil.copyfileobj(source, handle)

    return deliver


def cmd_example(args: argparse.Namespace) -> int:
    name = f"{args.name}.jsonl"
    try:
        text = resources.files("simulations").joinpath("examples", name).read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(f"no example named {args.name!r}") from None
    sys.stdout.write(text)
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "replay",
        help="apply a traffic file to a store and print its decisions",
        description=(
            "Apply a traffic file (JSON Lines, see the SPEC) to a store and write one "
            "decision per line. All or nothing: a bad line is reported with its line "
            "number and field, exit status 2, and the store is left as it was. "
            "Replaying into an existing store continues it; its read models are kept up to date. "
            "A replay killed at any moment can be run again with the same command."
        ),
    )
    parser.add_argument("traffic", metavar="TRAFFIC", help="traffic file, or - for stdin")
    add_store_option(parser)
    parser.add_argument(
        "--decisions",
        default="-",
        metavar="FILE",
        help="where to write the decisions as JSON Lines (default - for stdout)",
    )
    add_max_depth_option(parser)
    parser.set_defaults(run=cmd_replay)

    example = commands.add_parser(
        "example",
        help="print an example traffic file shipped with the package",
        description="Print an example traffic file (CRM, Feed and Drive) to stdout.",
    )
    example.add_argument("--name", default="portal", help="example name (default portal)")
    example.set_defaults(run=cmd_example)
