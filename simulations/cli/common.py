"""What every command shares: exit codes, usage errors, store addresses, progress, output."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ClassVar

from domain.starter import MAX_CASCADE_DEPTH
from domain.stores import DEFAULT_STORE, StoreAddress, StoreAddressError, parse_store, redacted

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# An unexpected error (a bug), and Ctrl-C (128 + SIGINT, as shells report it).
EXIT_BUG, EXIT_INTERRUPTED = 3, 130


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


def require_extra(extra: str, *modules: str) -> None:
    """Refuses (exit 2) when a module that the extra `extra` installs is missing."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise UsageError(
                f"this needs the [{extra}] extra ({module} is not installed): "
                f"pip install 'autostart-audit[{extra}]', or '.[{extra}]' in a clone"
            )


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help="PATH.db or sqlite:///PATH, memory:, or postgresql://USER:PASSWORD@HOST:PORT/DB "
        f"(default {DEFAULT_STORE})",
    )


MAX_DEPTH_LIMIT = 1_000_000


def _depth(text: str) -> int:
    try:
        depth = int(text)
    except ValueError:
        depth = -1
    if not 0 <= depth <= MAX_DEPTH_LIMIT:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_DEPTH_LIMIT}")
    return depth


def add_max_depth_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-depth",
        type=_depth,
        default=MAX_CASCADE_DEPTH,
        help="deepest process-made change applied before a cascade is stopped "
        f"(default {MAX_CASCADE_DEPTH})",
    )


def store_address(args: argparse.Namespace, *, must_exist: bool = False) -> StoreAddress:
    try:
        store = parse_store(args.store)
    except StoreAddressError as error:
        raise UsageError(f"--store {redacted(args.store)!r}: {error}") from None
    if store.kind == "postgres":
        require_extra("postgres", "psycopg", "psycopg_pool")
    if must_exist and store.path is not None and not store.path.is_file():
        raise UsageError(
            f"--store {redacted(args.store)!r}: no store there (replay traffic into it first)"
        )
    return store


def parse_time(text: str, option: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise UsageError(
            f"{option} {text!r}: expected an ISO-8601 time with an offset, "
            "e.g. 2026-03-02T09:15:00+03:00"
        )
    return at


def progress(label: str, unit: str = "lines") -> Callable[[int], None]:
    """A one-line progress counter on a terminal; silent when stderr is piped."""
    if not sys.stderr.isatty():
        return lambda _: None
    started = time.monotonic()
    last = [0.0]

    def show(count: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2:
            return
        last[0] = now
        rate = count / max(now - started, 1e-9)
        sys.stderr.write(f"\r{label}: {count:,} {unit}, {rate:,.0f} {unit}/s")
        sys.stderr.flush()

    return show


class Phases:
    """A long command's phases on stderr: a live counter on a terminal, else one line each.

    Each phase ends with one line saying what it did and how long it took (`quiet` silences
    them); on a terminal a counter also runs while it works.
    """

    UNITS: ClassVar[dict[str, str]] = {
        "replay": "traffic lines",
        "project": "stored events",
        "check": "",
    }

    def __init__(self, label: str, *, quiet: bool = False) -> None:
        self.label = label
        self.quiet = quiet
        self.live = sys.stderr.isatty() and not quiet
        self.phase: str | None = None
        self.count = 0
        self.began = 0.0
        self.shown = 0.0

    def start(self, phase: str) -> None:
        self.finish()
        self.phase, self.count, self.began = phase, 0, time.monotonic()

    def tick(self, count: int) -> None:
        self.count = count
        now = time.monotonic()
        if not self.live or now - self.shown < 0.2:
            return
        self.shown = now
        rate = count / max(now - self.began, 1e-9)
        unit = self.UNITS.get(self.phase or "", "")
        sys.stderr.write(f"\r{self.label}: {self.phase} {count:,} {unit}, {rate:,.0f}/s ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.phase is None:
            return
        seconds = time.monotonic() - self.began
        unit = self.UNITS.get(self.phase, "")
        done = f" {self.count:,} {unit}" if unit else ""
        if not self.quiet:
            clear = "\r\033[K" if self.live else ""
            sys.stderr.write(f"{clear}{self.label}: {self.phase}{done} in {seconds:.1f} s\n")
            sys.stderr.flush()
        self.phase = None

    def abandon(self) -> None:
        if self.live and self.phase is not None:
            sys.stderr.write("\n")
        self.phase = None


def end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def count_option(text: str) -> int:
    """An argparse type: a whole number of 1 or more (a count of lines, say)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def add_lines_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`--lines N`, and the old `--events N` (hidden, says on stderr that it is deprecated)."""
    parser.add_argument("--lines", type=count_option, metavar="N", help=help_text)
    parser.add_argument("--events", type=count_option, help=argparse.SUPPRESS)


def lines_option(args: argparse.Namespace) -> int | None:
    """The count of traffic lines asked for, through `--lines` or the deprecated `--events`."""
    if args.events is None:
        return args.lines  # type: ignore[no-any-return]
    if args.lines is not None:
        raise UsageError("give --lines only (--events is its old, deprecated name)")
    if not getattr(args, "quiet", False):  # --quiet: no messages but errors
        say("note: --events is deprecated and will go: it counts traffic lines, say --lines")
    return args.events  # type: ignore[no-any-return]


def say(message: str) -> None:
    """A message for the person at the terminal: always on stderr, never mixed with output."""
    print(message, file=sys.stderr)


@contextmanager
def output_file(target: str, mode: str = "w") -> Iterator[IO[Any]]:
    """Writes FILE whole or not at all: a regular file is replaced only once complete.

    A pipe, a device such as /dev/null, or anything else that is not a regular file is written
    straight through (replacing it would swap the device for a file).
    """
    path = Path(target)
    encoding = None if "b" in mode else "utf-8"
    if path.exists() and not path.is_file():
        with path.open(mode, encoding=encoding) as handle:
            yield handle
        return
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open(mode, encoding=encoding) as handle:
            yield handle
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
