"""Where the events live: a store address turned into the eventsourcing library's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_STORE = "./autostart.db"
# A snapshot store beside the events: the replays' bookkeeping loads from its latest snapshot.
SNAPSHOTS = {"IS_SNAPSHOTTING_ENABLED": "y"}


class StoreAddressError(ValueError):
    """A store address that is not one of the supported forms."""


@dataclass(frozen=True, slots=True)
class StoreAddress:
    """A parsed `--store`: a SQLite file, memory, or a PostgreSQL database."""

    kind: str  # "sqlite", "memory" or "postgres"
    env: dict[str, str]
    path: Path | None = None

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"SQLite file {self.path}"
        if self.kind == "memory":
            return "memory"
        return f"PostgreSQL database {self.env['POSTGRES_DBNAME']} on {self.env['POSTGRES_HOST']}"


def parse_store(address: str) -> StoreAddress:
    """`PATH.db`, `sqlite:///PATH`, `memory:` or `postgresql://USER:PASSWORD@HOST:PORT/DB`."""
    if address == "memory:":
        return StoreAddress("memory", {**SNAPSHOTS, "PERSISTENCE_MODULE": "eventsourcing.popo"})
    if address.startswith("sqlite:///"):
        return _sqlite(Path(address.removeprefix("sqlite:///")))
    if address.startswith(("postgresql://", "postgres://")):
        return _postgres(address)
    if address.endswith(".db"):
        return _sqlite(Path(address))
    raise StoreAddressError(
        "expected a path ending in .db, sqlite:///PATH, memory:, "
        "or postgresql://USER:PASSWORD@HOST:PORT/DB"
    )


def _sqlite(path: Path) -> StoreAddress:
    env = {
        **SNAPSHOTS,
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    return StoreAddress("sqlite", env, path)


def _postgres(address: str) -> StoreAddress:
    parts = urlsplit(address)
    database = parts.path.lstrip("/")
    if not (parts.hostname and parts.username and parts.password and database):
        raise StoreAddressError(
            "expected postgresql://USER:PASSWORD@HOST:PORT/DB with a user, a password "
            "(the event store needs one), a host and a database"
        )
    env = {
        **SNAPSHOTS,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username),
        "POSTGRES_PASSWORD": unquote(parts.password),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
    }
    return StoreAddress("postgres", env)
