"""Catching the read models up with the store: page by page, rows and position together."""

from __future__ import annotations

from collections.abc import Callable

from domain.application import AutostartApplication
from projections.database import ReadDatabase
from projections.ledger import AuditLedger, Page
from projections.locks import ADVISORY_KEY, StoreLock, reading
from projections.schema import POSITIONS, STATEMENTS, TABLES
from projections.written import WrittenPages

PAGE_SIZE = 5000
# Bump when a read-model table changes: stores made before are folded again from the events.
# 3: the positions moved from `tracking` to their own table (see `projections.schema`).
# 4: `decisions.checks` is compressed (see `projections.ledger.pack_checks`).
SCHEMA_VERSION = 4
SCHEMA_KEY = "schema_version"
# Serialises folding transactions on PostgreSQL (one key beside the store's lock).
FOLD_KEY = ADVISORY_KEY + 1


def create_tables(db: ReadDatabase) -> None:
    """Creates the read-model tables; tables of another schema version are rebuilt."""
    with db.transaction():
        _one_writer(db)
        for statement in STATEMENTS:
            db.execute(statement)
        if position(db, SCHEMA_KEY) != SCHEMA_VERSION:
            _drop(db)
            _drop_old_positions(db)
            for statement in STATEMENTS:
                db.execute(statement)
            db.execute(
                f"INSERT INTO {POSITIONS} (name, position) VALUES (?, ?)",
                (SCHEMA_KEY, SCHEMA_VERSION),
            )


def position(db: ReadDatabase, name: str = AuditLedger.name) -> int:
    rows = db.query(f"SELECT position FROM {POSITIONS} WHERE name = ?", (name,))
    return int(rows[0]["position"]) if rows else 0


def catch_up(
    app: AutostartApplication,
    db: ReadDatabase,
    *,
    page_size: int = PAGE_SIZE,
    stop: int | None = None,
    on_progress: Callable[[int], None] = lambda _: None,
    on_busy: Callable[[], None] = lambda: None,
    written: WrittenPages | None = None,
) -> int:
    """Folds every event after the tracked position; returns how many were folded.

    Each page's rows and the new position commit in one transaction, so a crash loses at most
    the page in hand and the next run resumes after the last committed page. The transaction
    reads the position itself, so two catch-ups at once never fold an event twice. Only
    finished replays are folded: each page under the store's shared lock (`projections.locks`),
    which a running replay holds exclusively; then nothing is folded and `on_busy` is called.
    The events of a replay that was killed mid-way are left for the next replay to take back.
    `written` holds pages the replay folded as it stored its events (`projections.written`):
    one that starts right after the tracked position goes in as it is; the other events are
    read back from the store.
    """
    create_tables(db)
    ledger = AuditLedger(db)
    lock = StoreLock(app.store)
    folded = 0
    try:
        while True:
            if not lock.try_shared():
                on_busy()
                break
            try:
                last, killed = stop, app.simulation().open_replay
                if killed is not None:
                    last = killed if stop is None else min(stop, killed)
                with db.transaction():
                    _one_writer(db)
                    done = position(db, ledger.name)
                    if last is not None and done >= last:
                        break
                    upto, count = _fold_next(app, db, ledger, done, page_size, last, written)
                    if not count:
                        break
                    db.execute(
                        f"INSERT INTO {POSITIONS} (name, position) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                        (ledger.name, upto),
                    )
            finally:
                lock.release()
            folded += count
            on_progress(folded)
    finally:
        lock.close()
    return folded


def _fold_next(
    app: AutostartApplication,
    db: ReadDatabase,
    ledger: AuditLedger,
    done: int,
    page_size: int,
    last: int | None,
    written: WrittenPages | None,
) -> tuple[int, int]:
    """Writes the next page's rows: folded ahead when one fits, else read back from the store.

    Returns the page's last position and its number of events (0 when there is none).
    """
    ahead = None if written is None else written.next_after(done)
    if written is not None and ahead is not None:
        if ahead.first == done + 1 and (last is None or ahead.last <= last):
            ahead.page.write(db)
            written.take()
            return ahead.last, ahead.events
        if ahead.first > done + 1:
            # Events before the page (the replay's start, another writer's): read them back.
            last = ahead.first - 1 if last is None else min(last, ahead.first - 1)
    notifications = app.recorder.select_notifications(start=done + 1, limit=page_size, stop=last)
    if not notifications:
        return done, 0
    fold = ledger.fold  # bound once: singledispatchmethod builds a wrapper per attribute access
    to_event = app.mapper.to_domain_event
    page = Page()
    for notification in notifications:
        fold(to_event(notification), notification.id, page)
    page.write(db)
    return notifications[-1].id, len(notifications)


def _one_writer(db: ReadDatabase) -> None:
    """Within a transaction: waits for other read-model writers to commit.

    SQLite's BEGIN IMMEDIATE already admits one writer; PostgreSQL needs a transaction lock
    (two `CREATE TABLE IF NOT EXISTS` at once fail there, and two folds would read one position).
    """
    if db.postgres:
        db.execute("SELECT pg_advisory_xact_lock(?)", (FOLD_KEY,))


def drop_tables(db: ReadDatabase) -> None:
    with db.transaction():
        _one_writer(db)
        _drop(db)


def _drop(db: ReadDatabase) -> None:
    for table in TABLES:
        db.execute(f"DROP TABLE IF EXISTS {table}")


def _drop_old_positions(db: ReadDatabase) -> None:
    """Schema 2 kept the positions in `tracking`: dropped if it is that table, never the
    library's table of the same name (application_name, notification_id)."""
    if db.postgres:
        statement = (
            "SELECT column_name AS name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?"
        )
    else:
        statement = "SELECT name FROM pragma_table_info(?)"
    if {row["name"] for row in db.query(statement, ("tracking",))} == {"name", "position"}:
        db.execute("DROP TABLE tracking")


def rebuild(
    app: AutostartApplication,
    db: ReadDatabase,
    *,
    on_progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Drops the read models and folds every event again from the first.

    Raises StoreBusyError, dropping nothing, while a replay writes to the store; holds the
    store's shared lock throughout, so that no replay starts half-way.
    """
    with reading(app.store, "rebuild"):
        drop_tables(db)
        return catch_up(app, db, on_progress=on_progress)
