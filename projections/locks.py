"""One writer at a time: a replay holds its store exclusively, read models fold between replays.

A replay takes the store's lock exclusively for its whole run; folding the read models takes it
shared, a page at a time, and never waits: while a replay writes, the ledger stays as it was
after the last complete replay. The lock goes with its holder: a killed replay leaves none
behind. On a SQLite file the lock is `portalocker`'s on the file itself: `flock` on Linux and
macOS (SQLite's own locks are POSIX record locks, which `flock` does not touch), the system's
file locks on Windows; on PostgreSQL a session advisory lock of the database; an in-memory store
lives in one process and needs none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import portalocker

from domain.stores import StoreAddress
from projections.database import connect_postgres

# The advisory lock's key in a PostgreSQL database: "autostrt" in ASCII.
ADVISORY_KEY = 0x6175746F73747274
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
FLAGS = {"exclusive": portalocker.LockFlags.EXCLUSIVE, "shared": portalocker.LockFlags.SHARED}
PG_TRY = {"exclusive": "pg_try_advisory_lock", "shared": "pg_try_advisory_lock_shared"}
PG_UNLOCK = {"exclusive": "pg_advisory_unlock", "shared": "pg_advisory_unlock_shared"}


class StoreBusyError(Exception):
    """Another replay holds the store."""


class StoreLock:
    """The store's lock, from one holder: `try_exclusive()`, `try_shared()`, `release()`."""

    def __init__(self, store: StoreAddress) -> None:
        self.store = store
        self._file: IO[bytes] | None = None
        self._pg: Any = None
        self._held: str | None = None
        if store.kind == "sqlite" and store.path is not None:
            self._file = store.path.open("rb")
        elif store.kind == "postgres":
            self._pg = connect_postgres(store, autocommit=True)

    def try_exclusive(self) -> bool:
        return self._try("exclusive")

    def try_shared(self) -> bool:
        return self._try("shared")

    def release(self) -> None:
        if self._held is None:
            return
        if self._file is not None:
            portalocker.unlock(self._file)
        elif self._pg is not None:
            self._pg.execute(f"SELECT {PG_UNLOCK[self._held]}(%s)", (ADVISORY_KEY,))
        self._held = None

    def close(self) -> None:
        self.release()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._pg is not None:
            self._pg.close()
            self._pg = None

    def _try(self, mode: str) -> bool:
        self.release()
        if self._file is not None:
            try:
                portalocker.lock(self._file, FLAGS[mode] | portalocker.LockFlags.NON_BLOCKING)
            except portalocker.AlreadyLocked:
                return False
        elif self._pg is not None:
            row = self._pg.execute(f"SELECT {PG_TRY[mode]}(%s)", (ADVISORY_KEY,)).fetchone()
            if not row[0]:
                return False
        self._held = mode
        return True


@contextmanager
def writing(store: StoreAddress, wait_seconds: float | None = None) -> Iterator[None]:
    """Holds the store exclusively; waits `wait_seconds` (a fold's page, say) for other holders.

    Raises StoreBusyError when the store is still held after that: another replay is writing.
    """
    wait = WAIT_SECONDS if wait_seconds is None else wait_seconds
    lock = StoreLock(store)
    try:
        deadline = time.monotonic() + wait
        while not lock.try_exclusive():
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"{store.describe()} is busy: another replay is writing to it "
                    f"(waited {wait:g} s); run this one when it has finished"
                )
            time.sleep(POLL_SECONDS)
        yield
    finally:
        lock.close()


@contextmanager
def reading(store: StoreAddress, command: str) -> Iterator[None]:
    """Holds the store shared, so that no replay starts meanwhile; never waits.

    Raises StoreBusyError naming `command` (what to run later) while a replay writes.
    """
    lock = StoreLock(store)
    try:
        if not lock.try_shared():
            raise StoreBusyError(
                f"{store.describe()} is busy: a replay is writing to it; "
                f"{command} when it has finished"
            )
        yield
    finally:
        lock.close()
