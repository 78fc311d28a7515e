"""The baselines: what SQLite, PostgreSQL and the event library do alone with the same events."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import Application

from domain.application import AutostartApplication
from domain.stores import StoreAddress
from projections.database import connect_postgres

# Notifications read a page at a time, as the read models read them.
PAGE = 5000
# The namespace of the raw rows' made-up aggregate ids.
RAW_IDS = UUID("6f1c1d2e-0b5a-4c55-9a3e-2b7d8e0c4a11")


class LibraryApplication(Application[UUID]):
    """The library's own application, nothing overridden, named as the store's so it opens
    the same tables: its default JSON transcoder and its mapper, as a plain user would have."""

    name = AutostartApplication.name


@contextmanager
def library(store: StoreAddress) -> Iterator[LibraryApplication]:
    app = LibraryApplication(store.env)
    try:
        yield app
    finally:
        app.close()


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """What the raw rows copy from a replayed store: how many, how big, which topics."""

    events: int
    mean_state_bytes: float
    aggregates: int
    topics: dict[str, int]

    def rows(self, *, uuid_ids: bool) -> list[tuple[Any, ...]]:
        """`events` rows of the events table: as many aggregates, the topics in their shares
        (shuffled, seeded), each state `mean_state_bytes` long (random, so incompressible)."""
        rng = random.Random(11)
        state = rng.randbytes(round(self.mean_state_bytes))
        topics = [topic for topic, count in self.topics.items() for _ in range(count)]
        rng.shuffle(topics)
        ids = [uuid5(RAW_IDS, str(i)) for i in range(max(self.aggregates, 1))]
        keys: list[Any] = ids if uuid_ids else [each.hex for each in ids]
        per = len(keys)
        return [(keys[i % per], i // per + 1, topics[i], state) for i in range(self.events)]


def profile(store: StoreAddress, table: str) -> StoredProfile:
    """Measures the events table of a replayed store."""
    length = "octet_length" if store.kind == "postgres" else "length"
    summary = f"SELECT count(*), avg({length}(state)), count(DISTINCT originator_id) FROM {table}"
    topics = f"SELECT topic, count(*) FROM {table} GROUP BY topic ORDER BY topic"
    if store.kind == "postgres":
        with connect_postgres(store) as connection:
            events, mean, aggregates = connection.execute(summary).fetchone()
            counted = connection.execute(topics).fetchall()
    else:
        connection = sqlite3.connect(str(store.path))
        try:
            events, mean, aggregates = connection.execute(summary).fetchone()
            counted = connection.execute(topics).fetchall()
        finally:
            connection.close()
    return StoredProfile(
        int(events), float(mean or 0), int(aggregates), {str(t): int(n) for t, n in counted}
    )


def raw_insert(store: StoreAddress, table: str, rows: list[tuple[Any, ...]]) -> float:
    """Seconds to write `rows` into a new events table of the library's own schema (made by
    the library), in one transaction: sqlite3's executemany, or PostgreSQL's COPY."""
    with library(store):
        pass  # creates the tables, as the library makes them
    if store.kind == "postgres":
        return _copy(store, table, rows)
    connection = sqlite3.connect(str(store.path), isolation_level=None)
    try:
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)
        connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


def _copy(store: StoreAddress, table: str, rows: list[tuple[Any, ...]]) -> float:
    columns = "originator_id, originator_version, topic, state"
    with connect_postgres(store) as connection:
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        connection.commit()
        return time.perf_counter() - started


def read_and_decode(store: StoreAddress) -> tuple[int, float]:
    """Events and seconds for the library to read every notification in pages and decode each
    with its own mapper: what any read model built on the library pays before folding."""
    with library(store) as app:
        to_event = app.mapper.to_domain_event
        count, start = 0, 1
        started = time.perf_counter()
        while notifications := app.recorder.select_notifications(start=start, limit=PAGE):
            for notification in notifications:
                to_event(notification)
            count += len(notifications)
            start = notifications[-1].id + 1
        return count, time.perf_counter() - started
