"""`autostart report`: figures and a Markdown summary of a store's ledger, written to a folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from simulations.cli.audit import read_models
from simulations.cli.common import (
    EXIT_OK,
    UsageError,
    add_store_option,
    require_extra,
    say,
    store_address,
)


def cmd_report(args: argparse.Namespace) -> int:
    require_extra("report", "matplotlib", "pandas")
    store = store_address(args, must_exist=True)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"--out {args.out!r}: not a folder") from None
    except PermissionError:
        raise UsageError(f"--out {args.out!r}: not allowed to write there") from None
    # matplotlib and pandas load only here: every other command would pay seconds to import them.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from simulations.reports import FIGURES, write_report  # noqa: PLC0415

    db = read_models(store)
    try:
        summary = write_report(db, out)
    finally:
        db.close()
    say(f"report on {store.describe()}: {len(FIGURES)} figures and {summary.name} in {out}")
    print(summary)
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "report",
        help="write figures and a Markdown summary of a store's decisions and processes",
        description=(
            "Catch the read models up, then write PNG figures (decisions by channel and "
            "outcome, exclusions by channel and reason, starts over time, queue lengths, "
            "waiting times, cascade depths) and summary.md, which links them and gives the "
            "headline numbers, into DIR. Prints the path of summary.md."
        ),
    )
    add_store_option(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write (created)")
    parser.set_defaults(run=cmd_report)
