"""`autostart decisions` and `autostart processes`: the ledger out as JSON Lines, CSV or Parquet."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import IO, Any

from domain.vocabulary import (
    ALL_CHANNELS,
    Outcome,
    ProcessStatus,
    Reason,
    element_name,
    is_document_type,
)
from projections.queries import (
    DECISION_SCHEMA,
    PROCESS_SCHEMA,
    Filters,
    decision_rows,
    process_rows,
)
from simulations.cli.audit import read_models
from simulations.cli.common import (
    EXIT_OK,
    UsageError,
    add_store_option,
    output_file,
    parse_time,
    require_extra,
    say,
    store_address,
)

CHUNK = 10_000


PROCESS_STATUSES = tuple(status.value for status in ProcessStatus)
PROCESS_OUTCOMES = ("started", "queued")


def _filters(args: argparse.Namespace, kind: str) -> Filters:
    outcomes = PROCESS_OUTCOMES if kind == "processes" else tuple(o.value for o in Outcome)
    return Filters(
        element=_element(args.element),
        document_type=_document_type(args.document_type),
        template=args.template,
        channel=_one_of("--channel", args.channel, sorted(ALL_CHANNELS), "lower case"),
        outcome=_outcome(args.outcome, outcomes, kind),
        reason=_one_of("--reason", args.reason, [r.value for r in Reason], "capitals"),
        status=_one_of("--status", getattr(args, "status", None), PROCESS_STATUSES, "lower case"),
        since=parse_time(args.since, "--since") if args.since else None,
        until=parse_time(args.until, "--until") if args.until else None,
    )


def checked_filters(args: argparse.Namespace, kind: str = "decisions") -> Filters:
    """The exports' filters from `args`, each value checked (the web view's lists share it)."""
    return _filters(args, kind)


def _one_of(option: str, value: str | None, known: Sequence[str], case: str) -> str | None:
    """`value` if it is one of `known` (exactly as written there), else a UsageError."""
    if value is None or value in known:
        return value
    hint = ""
    if value.upper() in known or value.lower() in known:
        right = value.upper() if value.upper() in known else value.lower()
        hint = f" ({option.removeprefix('--')} values are written in {case}: {right})"
    raise UsageError(f"{option} {value!r}: expected one of {', '.join(known)}{hint}")


def _outcome(value: str | None, known: Sequence[str], kind: str) -> str | None:
    if kind == "processes" and value in PROCESS_STATUSES and value not in known:
        raise UsageError(
            f"--outcome {value!r}: a process's outcome is its deciding decision's "
            f"({', '.join(known)}); {value} is a status: --status {value}"
        )
    return _one_of("--outcome", value, known, "lower case")


def _element(value: str | None) -> str | None:
    if value is not None:
        try:
            element_name(value)
        except ValueError:
            raise UsageError(
                f"--element {value!r}: expected <document type>:<id>, e.g. crm.deal:101"
            ) from None
    return value


def _document_type(value: str | None) -> str | None:
    if value is not None and not is_document_type(value):
        raise UsageError(
            f"--document-type {value!r}: expected a document type such as crm.deal, "
            "crm.dynamic_128, feed.iblock_22, lists.iblock_22 or disk.storage_1 (lower case)"
        )
    return value


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def write_rows(
    rows: Iterable[dict[str, Any]],
    schema: dict[str, type[int] | type[str]],
    fmt: str,
    out: IO[bytes],
) -> int:
    """Streams rows out chunk by chunk in the declared columns; returns how many were written."""
    columns = tuple(schema)
    if fmt == "parquet":
        return _write_parquet(rows, schema, out)
    count = 0
    text = _TextOut(out)
    if fmt == "csv":
        writer_csv = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer_csv.writeheader()
        for row in rows:
            writer_csv.writerow(row)
            count += 1
    else:
        for row in rows:
            text.write(json.dumps({c: row[c] for c in columns}) + "\n")
            count += 1
    text.flush()
    return count


def _write_parquet(
    rows: Iterable[dict[str, Any]], schema: dict[str, type[int] | type[str]], out: IO[bytes]
) -> int:
    import pyarrow as pa  # noqa: PLC0415 - heavy, and only Parquet needs it
    import pyarrow.parquet as pq  # noqa: PLC0415

    # One schema for the whole file: a column null in a first chunk is still a string column.
    declared = pa.schema(
        [(name, pa.int64() if kind is int else pa.string()) for name, kind in schema.items()]
    )
    count = 0
    with pq.ParquetWriter(out, declared) as writer:
        for chunk in _chunks(rows):
            writer.write_table(pa.Table.from_pylist(chunk, schema=declared))
            count += len(chunk)
    return count


class _TextOut:
    """Text on top of a binary stream, without closing it (stdout stays usable)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(text.encode("utf-8"))

    def flush(self) -> None:
        self.out.flush()


def _export(args: argparse.Namespace, kind: str) -> int:
    if args.format == "parquet":
        require_extra("parquet", "pyarrow")
    store = store_address(args, must_exist=True)
    if args.format == "parquet" and args.out == "-" and sys.stdout.isatty():
        raise UsageError("Parquet is binary: give --out FILE or redirect stdout")
    filters = _filters(args, kind)
    db = read_models(store)
    try:
        if kind == "decisions":
            rows, schema = decision_rows(db, filters), DECISION_SCHEMA
        else:
            rows, schema = process_rows(db, filters), PROCESS_SCHEMA
        if args.out == "-":
            count = write_rows(rows, schema, args.format, sys.stdout.buffer)
        else:
            with output_file(args.out, "wb") as handle:
                count = write_rows(rows, schema, args.format, handle)
    finally:
        db.close()
    say(f"{count} {kind} written")
    return EXIT_OK


def register(commands: Any) -> None:
    for kind, text in (
        ("decisions", "export the decision ledger (one row per decision)"),
        ("processes", "export the process list (started and queued instances, with status)"),
    ):
        parser = commands.add_parser(kind, help=text, description=text.capitalize() + ".")
        add_store_option(parser)
        parser.add_argument(
            "--format",
            choices=("jsonl", "csv", "parquet"),
            default="jsonl",
            help="output format (default jsonl)",
        )
        parser.add_argument("--out", default="-", metavar="FILE", help="file (default stdout)")
        parser.add_argument("--element", help="only this element, e.g. crm.deal:101")
        parser.add_argument("--document-type", help="only this document type, e.g. crm.deal")
        parser.add_argument("--template", type=int, metavar="ID", help="only this template")
        deciding = "deciding decision's " if kind == "processes" else ""
        parser.add_argument(
            "--channel", help=f"only where the {deciding}channel is this one (lower case, e.g. ui)"
        )
        parser.add_argument(
            "--outcome",
            help="started or queued (the deciding decision's)"
            if kind == "processes"
            else "started, queued, rejected or skipped",
        )
        parser.add_argument(
            "--reason", help=f"only this {deciding}reason code (capitals, e.g. LIMIT_QUEUED)"
        )
        if kind == "processes":
            parser.add_argument("--status", help=", ".join(PROCESS_STATUSES))
        parser.add_argument("--since", metavar="TIME", help="decided at or after TIME")
        parser.add_argument("--until", metavar="TIME", help="decided at or before TIME")
        parser.set_defaults(run=lambda args, kind=kind: _export(args, kind))
