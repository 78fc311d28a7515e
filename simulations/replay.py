"""Replay: apply a traffic stream to a store, all or nothing, and write its decisions."""

from __future__ import annotations

import gc
import io
import json
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from eventsourcing.persistence import PersistenceError

from domain.application import AutostartApplication, OnStored, Workspace
from domain.decisions import Decision
from domain.errors import Refusal
from domain.journal import journal
from domain.simulation import Simulation
from domain.starter import EPOCH, MAX_CASCADE_DEPTH, Starter
from domain.stores import StoreAddress
from projections.database import connect_postgres
from projections.locks import writing
from simulations.commands import (
    ChangePortal,
    Command,
    ConfigureContainer,
    ConfigureTemplate,
    CreateElement,
    DeleteElement,
    ImportElements,
    UpdateElement,
)
from simulations.traffic import BadLineError, parse_line

BATCH_LINES = 2000
# Allocations between young-generation collections during a replay (the default is 700).
BULK_GC_THRESHOLD = 50_000
# Simulation events between snapshots: loading it reads at most this many, however many replays.
SNAPSHOT_EVERY = 100


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    lines: int
    decisions: int
    events: int  # stored in the store, not traffic lines
    warnings: int


class AlreadyRecordedError(Exception):
    """The traffic is the very file the store's last replay recorded (and delivered) in full."""


class StoreUnavailableError(Exception):
    """The store could not be opened: its server is down, its file unreadable, and so on."""


def open_store(store: StoreAddress) -> AutostartApplication:
    """The application on `store`; raises StoreUnavailableError when it cannot be reached."""
    if store.path is not None:
        store.path.parent.mkdir(parents=True, exist_ok=True)
    if store.kind == "postgres":
        _probe_postgres(store)
    try:
        return AutostartApplication(store)
    except (PersistenceError, OSError, sqlite3.Error) as error:
        raise StoreUnavailableError(f"cannot open {store.describe()}: {error}") from None


def _probe_postgres(store: StoreAddress) -> None:
    """Says why a PostgreSQL store cannot be reached, at once and without its password.

    The library's pool only says "couldn't get a connection" after its timeout, whatever the
    cause: one direct connection first tells a wrong password from a missing database or server.
    """
    import psycopg  # noqa: PLC0415 - PostgreSQL users only

    env = store.env
    where = f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
    try:
        connect_postgres(store).close()
    except psycopg.OperationalError as error:
        text = str(error)
        if "authentication failed" in text or ("role" in text and "does not exist" in text):
            cause = f"authentication failed for user {env['POSTGRES_USER']} (check the password)"
        elif "database" in text and "does not exist" in text:
            cause = f"no database named {env['POSTGRES_DBNAME']} on {where} (create it first)"
        elif "Connection refused" in text or "timeout expired" in text:
            cause = f"no server at {where} (nothing answers there)"
        elif "translate host name" in text or "Name or service not known" in text:
            cause = f"no host named {env['POSTGRES_HOST']}"
        else:
            cause = text.replace(env["POSTGRES_PASSWORD"], "***").splitlines()[0]
        raise StoreUnavailableError(f"cannot open {store.describe()}: {cause}") from None


def replay(
    app: AutostartApplication,
    lines: Iterable[str],
    deliver: Callable[[IO[str]], None] | None,
    *,
    source: str = "-",
    max_depth: int = MAX_CASCADE_DEPTH,
    batch_lines: int = BATCH_LINES,
    on_warning: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[int], None] = lambda _: None,
    faults: frozenset[str] = frozenset(),
    digest: str = "",
    on_stored: OnStored | None = None,
) -> ReplaySummary:
    """Applies every traffic line in order; on a bad line the store is left as it was.

    The decisions are handed to `deliver` (a readable stream of JSON Lines; None when they are
    not wanted, as in `simulate`, spares writing them) only once the whole stream has been
    applied and saved, and the replay is marked finished only once `deliver` has returned: a
    replay killed at any moment before that is still open, and the next replay into the store
    takes it back, so running the same command again gives the same
    decisions. `digest` (the traffic file's SHA-256) is recorded with the replay: a replay of
    the same digest right after it raises AlreadyRecordedError and applies nothing, so a
    command killed after its replay was final can be run again too. The store is held for the
    whole run (see `projections.locks`). `on_stored` is told of each batch of events stored,
    with their positions (`projections.written` folds them as they are written). Raises
    BadLineError for bad input, StoreBusyError when another replay holds the store.
    """
    with writing(app.store), _bulk_collection():
        simulation = app.simulation()
        if simulation.open_replay is not None:
            # An interrupted replay (killed mid-way) left events behind: take them back.
            app.truncate(simulation.open_replay)
            simulation = app.simulation()
        if digest and digest == simulation.last_digest:
            raise AlreadyRecordedError(source)
        position = app.position()
        simulation.start_replay(source, position, simulation.clock or EPOCH)
        app.save(simulation)
        try:
            with (
                tempfile.TemporaryFile("w+", encoding="utf-8") as spool,
                journal() as events_in_order,
            ):
                summary, finish = _apply(
                    app,
                    events_in_order,
                    simulation,
                    lines,
                    None if deliver is None else spool,
                    source,
                    max_depth,
                    batch_lines,
                    on_warning,
                    on_progress,
                    faults,
                    on_stored,
                )
                if deliver is not None:
                    spool.seek(0)
                    deliver(spool)
                # The commit that makes the replay final comes after the delivery.
                summary = replace(summary, events=summary.events + finish(digest))
        except BaseException:
            app.truncate(position)
            raise
        if simulation.version % SNAPSHOT_EVERY < 2:  # two events a replay: once in 50 replays
            # Only now, once nothing can take this replay back: a snapshot outlives a truncate.
            app.take_snapshot(simulation.id)
        # Every event this replay stored, its own bookkeeping included: what a rebuild folds.
        stored = app.position() - position
    return ReplaySummary(summary.lines, summary.decisions, stored, summary.warnings)


@contextmanager
def _bulk_collection() -> Iterator[None]:
    """The garbage collector, tuned for a replay; as it was afterwards.

    A replay makes millions of small objects, most of which live until their batch is saved:
    at the default threshold (700 allocations) the collector scanned them over and over, about
    a tenth of a replay's time. What existed before the replay is frozen out of its scans.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(BULK_GC_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _apply(
    app: AutostartApplication,
    events_in_order: list[Any],
    simulation: Simulation,
    lines: Iterable[str],
    spool: IO[str] | None,
    source: str,
    max_depth: int,
    batch_lines: int,
    on_warning: Callable[[str], None],
    on_progress: Callable[[int], None],
    faults: frozenset[str],
    on_stored: OnStored | None,
) -> tuple[ReplaySummary, Callable[[str], int]]:
    """Applies and saves every line; returns the summary and what marks the replay finished."""
    portal = app.portal()
    templates = app.templates(portal)
    workspace = Workspace(app, journal=events_in_order, on_stored=on_stored)
    counts = {"decisions": 0, "warnings": 0, "events": 0}
    dumps = json.dumps

    def record(decision: Decision) -> None:
        counts["decisions"] += 1
        if spool is not None:
            spool.write(dumps(decision.as_dict()) + "\n")

    def warn(message: str) -> None:
        counts["warnings"] += 1
        on_warning(message)

    starter = Starter(
        portal,
        templates,
        simulation,
        workspace,
        on_decision=record,
        on_warning=warn,
        max_depth=max_depth,
        faults=faults,
    )
    number = 0
    for number, text in enumerate(lines, start=1):
        command = parse_line(text, number)
        if command is None:
            continue
        try:
            apply_command(starter, command)
        except Refusal as error:
            raise BadLineError.refused(number, error) from None
        if number % batch_lines == 0:
            counts["events"] += workspace.flush(portal, *starter.templates.values())
            on_progress(number)
    counts["events"] += workspace.flush(portal, *starter.templates.values())
    on_progress(number)

    def finish(digest: str) -> int:
        simulation.finish_replay(
            source=source, lines=number, at=starter.now, digest=digest, **starter.checkpoint()
        )
        return workspace.flush(simulation)

    summary = ReplaySummary(number, counts["decisions"], counts["events"], counts["warnings"])
    return summary, finish


def apply_command(starter: Starter, command: Command) -> None:
    """Applies one checked traffic line to the starter; raises a Refusal when refused."""
    line, actor = command.line, command.actor
    if command.at is not None:
        starter.tick(command.at)
    match command:
        case ChangePortal(changes=changes):
            starter.change_portal(changes, actor=actor, line=line)
        case ConfigureContainer(document_type=doc_type, bizproc_enabled=enabled):
            starter.configure_container(doc_type, enabled, actor=actor, line=line)
        case ConfigureTemplate(template=template, config=config):
            starter.configure_template(template, config, actor=actor)
        case CreateElement():
            starter.create(
                command.element,
                channel=command.channel,
                line=line,
                actor=actor,
                fields=command.fields,
                parameters=command.parameters,
            )
        case UpdateElement():
            starter.update(
                command.element,
                channel=command.channel,
                changed=command.changed,
                line=line,
                actor=actor,
                parameters=command.parameters,
            )
        case ImportElements(document_type=doc_type, elements=elements):
            starter.import_batch(doc_type, elements, line=line, actor=actor)
        case DeleteElement(element=element):
            starter.delete(element, line=line, actor=actor)


def read_lines(path: str) -> Iterable[str]:
    """Streams a traffic file (or standard input for `-`) line by line."""
    # Bytes that are not UTF-8 are kept (as surrogates) so the parser can name their line.
    if path == "-":
        if isinstance(sys.stdin, io.TextIOWrapper):
            sys.stdin.reconfigure(errors="surrogateescape")
        yield from sys.stdin
        return
    with Path(path).open(encoding="utf-8", errors="surrogateescape") as handle:
        yield from handle
