"""What every command shares: exit codes, usage errors, store addresses, progress, output."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from domain.starter import MAX_CASCADE_DEPTH
from domain.stores import DEFAULT_STORE, StoreAddress, StoreAddressError, parse_store

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# An unexpected error (a bug), and Ctrl-C (128 + SIGINT, as shells report it).
EXIT_BUG, EXIT_INTERRUPTED = 3, 130


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


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
        raise UsageError(f"--store {args.store!r}: {error}") from None
    if must_exist and store.path is not None and not store.path.is_file():
        raise UsageError(f"--store {args.store!r}: no store there (replay traffic into it first)")
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


def end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")


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
