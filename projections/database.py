"""The read-model database: the store's own SQLite file or PostgreSQL database, one connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from domain.stores import StoreAddress


def connect_postgres(store: StoreAddress, **options: Any) -> Any:
    """A psycopg connection to the store's PostgreSQL database; `options` go to connect()."""
    import psycopg  # noqa: PLC0415 - a second of start-up that SQLite users never need

    env = store.env
    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT", "5")),
        **options,
    )


class ReadDatabase:
    """Plain SQL on the read-model tables; statements use `?` placeholders on both engines."""

    def __init__(self, store: StoreAddress) -> None:
        self.store = store
        self.postgres = store.kind == "postgres"
        if self.postgres:
            from psycopg.rows import dict_row  # noqa: PLC0415 - PostgreSQL users only

            # Outside transaction() each statement commits; inside, all commit together.
            self._pg: Any = connect_postgres(store, autocommit=True, row_factory=dict_row)
        else:
            target = str(store.path) if store.path is not None else ":memory:"
            self._sqlite = sqlite3.connect(target, isolation_level=None, timeout=30)
            self._sqlite.row_factory = sqlite3.Row
            # In WAL mode (the event store sets it) a commit then waits for no disk flush: a
            # crash may lose the last pages, never tear one, and their events fold again.
            self._sqlite.execute("PRAGMA synchronous=NORMAL")

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        if self.postgres:
            with self._pg.transaction():
                yield
            return
        self._sqlite.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._sqlite.execute("ROLLBACK")
            raise
        self._sqlite.execute("COMMIT")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        if self.postgres:
            self._pg.execute(self._sql(statement), params)
        else:
            self._sqlite.execute(statement, params)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.postgres:
            with self._pg.cursor() as cursor:
                cursor.executemany(self._sql(statement), rows)
        else:
            self._sqlite.executemany(statement, rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self.postgres:
            with self._pg.cursor() as cursor:
                cursor.execute(self._sql(statement), params)
                return list(cursor.fetchall())
        return [dict(row) for row in self._sqlite.execute(statement, params).fetchall()]

    def stream(
        self, statement: str, params: Sequence[Any] = (), size: int = 5000
    ) -> Iterator[dict[str, Any]]:
        """Rows one at a time without holding the whole result in memory."""
        if self.postgres:
            with self._pg.transaction(), self._pg.cursor(name="autostart_stream") as cursor:
                cursor.itersize = size
                cursor.execute(self._sql(statement), params)
                yield from cursor
            return
        rows = self._sqlite.execute(statement, params)
        while batch := rows.fetchmany(size):
            for row in batch:
                yield dict(row)

    def close(self) -> None:
        if self.postgres:
            self._pg.close()
        else:
            self._sqlite.close()
