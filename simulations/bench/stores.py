"""Where the bench's stores live: files in a folder, or one PostgreSQL database and its schemas."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from domain.application import AutostartApplication
from domain.stores import StoreAddress, parse_store
from projections.database import connect_postgres

# The table the library keeps the events in: SQLite's is fixed, PostgreSQL's is named after the
# application (eventsourcing.sqlite and eventsourcing.postgres, `application_recorder`).
SQLITE_EVENTS = "stored_events"
POSTGRES_EVENTS = f"{AutostartApplication.name.lower()}_events"
SIDE_SCHEMA = "autostart_bench_"


class StoreNotEmptyError(Exception):
    """The PostgreSQL database given to the bench holds something: it would be dropped."""


@dataclass(frozen=True, slots=True)
class Sizes:
    whole_bytes: int
    # The events table with its indexes; None where the store cannot say (no dbstat).
    events_bytes: int | None


class BenchStores(Protocol):
    kind: str  # "sqlite" or "postgres"

    def main(self, name: str) -> str:
        """An empty store, as `--store` takes it, for a command run; the last one may be gone."""
        ...

    def side(self, name: str) -> StoreAddress:
        """An empty store beside the main one, for writes made in this process."""
        ...

    def drop_side(self, name: str) -> None: ...

    def sizes(self, address: str) -> Sizes: ...

    def events_table(self, store: StoreAddress) -> str:
        """The events table's name, qualified as a statement on `store` needs it."""
        ...

    def close(self) -> None: ...


class SqliteStores:
    """Each store a file in `folder`, removed as soon as the bench is done with it."""

    kind = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def main(self, name: str) -> str:
        path = self.folder / f"{name}.db"
        _remove(path)
        return str(path)

    def side(self, name: str) -> StoreAddress:
        path = self.folder / f"side-{name}.db"
        _remove(path)
        return parse_store(str(path))

    def drop_side(self, name: str) -> None:
        _remove(self.folder / f"side-{name}.db")

    def sizes(self, address: str) -> Sizes:
        path = Path(address)
        whole = sum(
            Path(f"{path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{path}{suffix}").exists()
        )
        with sqlite3.connect(path) as connection:
            try:
                # dbstat is in most SQLite builds (SQLITE_ENABLE_DBSTAT_VTAB), not all.
                row = connection.execute(
                    "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                    "(SELECT name FROM sqlite_master WHERE tbl_name = ?)",
                    (SQLITE_EVENTS,),
                ).fetchone()
            except sqlite3.OperationalError:
                row = None
        connection.close()
        return Sizes(whole, int(row[0]) if row and row[0] is not None else None)

    def events_table(self, store: StoreAddress) -> str:
        return SQLITE_EVENTS

    def close(self) -> None:
        for path in self.folder.glob("*.db"):
            _remove(path)


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# What the bench and the library make in a schema: tables (their sequences go with them),
# the library's insert functions and the composite type they take.
_OBJECTS = """
SELECT CASE c.relkind WHEN 'c' THEN 'TYPE' WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
       WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind,
       format('%%I.%%I', n.nspname, c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c', 'f')
UNION ALL
SELECT 'FUNCTION', p.oid::regprocedure::text
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY(%s)
"""
_DROP_ORDER = (
    "TABLE",
    "FOREIGN TABLE",
    "MATERIALIZED VIEW",
    "VIEW",
    "FUNCTION",
    "TYPE",
    "SEQUENCE",
)


class PostgresStores:
    """One empty database: the main store in its own schema, emptied for each command run;
    the side stores in schemas of their own, dropped when done. Left empty at the end."""

    kind = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self.store = parse_store(url)
        self.sides: set[str] = set()
        self.connection: Any = connect_postgres(self.store, autocommit=True)
        try:
            current = self.connection.execute("SELECT current_schema()").fetchone()[0]
            # The library always writes to `public`; the read models to the search path's first.
            self.schemas = sorted({"public", current or "public"})
            self._check_empty_and_writable()
        except BaseException:
            self.connection.close()
            raise

    def _check_empty_and_writable(self) -> None:
        where = self.store.describe()
        found = self._objects()
        if found:
            names = ", ".join(name for _, name in found[:5])
            more = f" and {len(found) - 5} more" if len(found) > 5 else ""
            raise StoreNotEmptyError(
                f"{where} is not empty ({names}{more}): the bench needs an empty database "
                "(it empties it again when done)"
            )
        may = self.connection.execute(
            "SELECT has_database_privilege(current_database(), 'CREATE'), "
            "has_schema_privilege('public', 'CREATE')"
        ).fetchone()
        if not all(may):
            raise StoreNotEmptyError(
                f"{where}: the bench needs the right to create schemas in the database and "
                "tables in its public schema (GRANT CREATE ON DATABASE ...; the owner has both)"
            )

    def _objects(self, schemas: list[str] | None = None) -> list[tuple[str, str]]:
        chosen = schemas or self.schemas
        rows = self.connection.execute(_OBJECTS, (chosen, chosen)).fetchall()
        return [(str(kind), str(name)) for kind, name in rows]

    def _empty(self) -> None:
        found = self._objects()
        for kind in _DROP_ORDER:
            for each, name in found:
                if each == kind:
                    self.connection.execute(f"DROP {kind} IF EXISTS {name} CASCADE")

    def main(self, name: str) -> str:
        self._empty()
        return self.url

    def side(self, name: str) -> StoreAddress:
        schema = self._schema(name)
        self.connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.connection.execute(f'CREATE SCHEMA "{schema}"')
        self.sides.add(name)
        return replace(self.store, env={**self.store.env, "POSTGRES_SCHEMA": schema})

    def drop_side(self, name: str) -> None:
        self.connection.execute(f'DROP SCHEMA IF EXISTS "{self._schema(name)}" CASCADE')
        self.sides.discard(name)

    @staticmethod
    def _schema(name: str) -> str:
        return SIDE_SCHEMA + "".join(c if c.isalnum() else "_" for c in name)

    def sizes(self, address: str) -> Sizes:
        whole = self.connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = ANY(%s) AND c.relkind = 'r'",
            (self.schemas,),
        ).fetchone()[0]
        events = self.connection.execute(
            "SELECT pg_total_relation_size(to_regclass(%s))", (f"public.{POSTGRES_EVENTS}",)
        ).fetchone()[0]
        return Sizes(int(whole), int(events) if events is not None else None)

    def events_table(self, store: StoreAddress) -> str:
        schema = store.env.get("POSTGRES_SCHEMA") or "public"
        return f'"{schema}"."{POSTGRES_EVENTS}"'

    def close(self) -> None:
        try:
            for name in list(self.sides):
                self.drop_side(name)
            self._empty()
        finally:
            self.connection.close()
