"""Catching the read models up with the store: page by page, rows and position together."""

from __future__ import annotations

from collections.abc import Callable

from domain.application import AutostartApplication
from projections.database import ReadDatabase
from projections.ledger import AuditLedger, Page
from projections.schema import STATEMENTS, TABLES

PAGE_SIZE = 5000
# Bump when a read-model table changes: stores made before are folded again from the events.
SCHEMA_VERSION = 2
SCHEMA_KEY = "schema_version"


def create_tables(db: ReadDatabase) -> None:
    """Creates the read-model tables; tables of another schema version are rebuilt."""
    with db.transaction():
        for statement in STATEMENTS:
            db.execute(statement)
    if position(db, SCHEMA_KEY) != SCHEMA_VERSION:
        drop_tables(db)
        with db.transaction():
            for statement in STATEMENTS:
                db.execute(statement)
            db.execute(
                "INSERT INTO tracking (name, position) VALUES (?, ?)", (SCHEMA_KEY, SCHEMA_VERSION)
            )


def position(db: ReadDatabase, name: str = AuditLedger.name) -> int:
    rows = db.query("SELECT position FROM tracking WHERE name = ?", (name,))
    return int(rows[0]["position"]) if rows else 0


def catch_up(
    app: AutostartApplication,
    db: ReadDatabase,
    *,
    page_size: int = PAGE_SIZE,
    stop: int | None = None,
    on_progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Folds every event after the tracked position; returns how many were folded.

    Each page's rows and the new position commit in one transaction, so a crash loses at most
    the page in hand and the next run resumes after the last committed page.
    """
    create_tables(db)
    ledger = AuditLedger(db)
    fold = ledger.fold  # bound once: singledispatchmethod builds a wrapper per attribute access
    to_event = app.mapper.to_domain_event
    done = position(db, ledger.name)
    folded = 0
    while stop is None or done < stop:
        notifications = app.recorder.select_notifications(
            start=done + 1, limit=page_size, stop=stop
        )
        if not notifications:
            break
        page = Page()
        for notification in notifications:
            fold(to_event(notification), notification.id, page)
        done = notifications[-1].id
        with db.transaction():
            page.write(db)
            db.execute(
                "INSERT INTO tracking (name, position) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (ledger.name, done),
            )
        folded += len(notifications)
        on_progress(folded)
    return folded


def drop_tables(db: ReadDatabase) -> None:
    with db.transaction():
        for table in TABLES:
            db.execute(f"DROP TABLE IF EXISTS {table}")


def rebuild(
    app: AutostartApplication,
    db: ReadDatabase,
    *,
    on_progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Drops the read models and folds every event again from the first."""
    drop_tables(db)
    return catch_up(app, db, on_progress=on_progress)


def forget_after(db: ReadDatabase, last: int) -> None:
    """After events past `last` were taken back, read models that saw them are rebuilt."""
    create_tables(db)
    if position(db) > last:
        drop_tables(db)
        create_tables(db)
