"""`autostart bench`: the project's speed, each figure beside its baseline, measured in one run."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.stores import StoreAddressError, parse_store
from simulations.bench import SCENARIO
from simulations.cli.common import EXIT_OK, UsageError, count_option, require_extra

if TYPE_CHECKING:
    from simulations.bench.stores import BenchStores

MIN_LINES = 100
STORES = "sqlite, postgresql (a throwaway server) or postgresql://USER:PASSWORD@HOST:PORT/DB"


def _lines(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < MIN_LINES:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of {MIN_LINES} or more, got {text!r}"
        )
    return value


def _store(text: str) -> str:
    if text in ("sqlite", "postgresql"):
        return text
    if text.startswith(("postgresql://", "postgres://")):
        try:
            parse_store(text)
        except StoreAddressError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text
    # Not echoed: whatever it is, it may hold a password.
    raise argparse.ArgumentTypeError(f"expected {STORES}")


def cmd_bench(args: argparse.Namespace) -> int:
    # Imported here: every other command starts without the bench's modules.
    from simulations.bench.measure import Bench  # noqa: PLC0415
    from simulations.bench.results import result_of  # noqa: PLC0415

    if args.store != "sqlite":
        require_extra("postgres", "psycopg", "psycopg_pool")
    say = _progress(args.quiet)
    with (
        tempfile.TemporaryDirectory(prefix="autostart-bench-") as folder,
        _stores(args.store, Path(folder), say) as stores,
    ):
        result = result_of(Bench(args.lines, args.runs, stores, Path(folder), say).run())
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.render())
    return EXIT_OK


def _progress(quiet: bool) -> Callable[[str], None]:
    if quiet or not sys.stderr.isatty():
        return lambda _: None
    return lambda step: print(f"autostart bench: {step}", file=sys.stderr, flush=True)


@contextmanager
def _stores(choice: str, folder: Path, say: Callable[[str], None]) -> Iterator[BenchStores]:
    from simulations.bench.stores import SqliteStores  # noqa: PLC0415 - see cmd_bench

    if choice == "sqlite":
        sqlite = SqliteStores(folder)
        try:
            yield sqlite
        finally:
            sqlite.close()
        return
    if choice == "postgresql":
        with _throwaway_server(say) as url:
            yield _postgres(url)
        return
    stores = _postgres(choice)
    try:
        yield stores
    finally:
        stores.close()


@contextmanager
def _throwaway_server(say: Callable[[str], None]) -> Iterator[str]:
    from simulations.postgres_server import PostgresServer  # noqa: PLC0415 - needs psycopg

    try:
        server = PostgresServer()
    except FileNotFoundError as error:
        raise UsageError(f"--store postgresql: {error}") from None
    say("starting a throwaway PostgreSQL server")
    with server:
        yield server.create_database("autostart_bench")


def _postgres(url: str) -> Any:
    import psycopg  # noqa: PLC0415 - PostgreSQL users only

    from simulations.bench.stores import PostgresStores, StoreNotEmptyError  # noqa: PLC0415

    store = parse_store(url)
    try:
        return PostgresStores(url)
    except psycopg.OperationalError as error:
        first = (str(error).splitlines() or ["?"])[0]
        cause = first.replace(store.env["POSTGRES_PASSWORD"], "***")
        raise UsageError(f"--store: cannot open {store.describe()}: {cause}") from None
    except StoreNotEmptyError as error:
        raise UsageError(f"--store: {error}") from None


def register(commands: Any) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure replay, rebuild, why, frames, memory and size beside their baselines",
        description=(
            f"Generate {SCENARIO} traffic and measure, in one run on this machine, each figure "
            "beside its baseline (medians of --runs repetitions, as ratios): replay against raw "
            "inserts of the same rows, the write path alone against raw inserts and the "
            "library's per-aggregate save(), a rebuild against the library's read-and-decode, "
            "why on the big store against a 10k-event one, the decisions frame against "
            "pandas.read_sql, peak memory at N lines against N/10, and bytes per stored event, "
            "each with its target. A measurement, not a check: exit status 0 whether or not "
            "the targets are met, 2 on bad arguments."
        ),
    )
    bench.add_argument(
        "--lines",
        type=_lines,
        default=100_000,
        metavar="N",
        help="traffic lines to generate and replay (default 100000)",
    )
    bench.add_argument(
        "--runs",
        type=count_option,
        default=3,
        metavar="R",
        help="repetitions of each measurement; the medians are shown (default 3)",
    )
    bench.add_argument(
        "--store",
        type=_store,
        default="sqlite",
        metavar="STORE",
        help=f"where to measure: {STORES}, an existing empty database that the bench "
        "empties again when done (default sqlite: files in a temporary folder)",
    )
    bench.add_argument("--json", action="store_true", help="every figure as one JSON object")
    bench.set_defaults(run=cmd_bench)
