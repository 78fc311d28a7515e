"""Where the events live: a store address turned into the eventsourcing library's settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from eventsourcing.utils import Environment

DEFAULT_STORE = "./autostart.db"
# Every store's settings of the library: a snapshot store beside the events (the replays'
# bookkeeping loads from its latest snapshot), the library's JSON written by orjson, and each
# state compressed with a dictionary of what this model's events share.
LIBRARY_SETTINGS = {
    "IS_SNAPSHOTTING_ENABLED": "y",
    "TRANSCODER_TOPIC": "domain.transcoder:OrjsonTranscoder",
    "COMPRESSOR_TOPIC": "domain.compressor:EventCompressor",
}


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


# `SCHEME://USER:PASSWORD@`: what a message may show of an address is everything else. Up to
# the last `@`: a password written without its escapes may hold `@`, `:` or `/`.
_PASSWORD = re.compile(r"(://[^/@:]*:).*@")


def redacted(address: str) -> str:
    """The address as a message may show it: any password in it replaced by `***`."""
    return _PASSWORD.sub(r"\1***@", address)


def parse_store(address: str) -> StoreAddress:
    """`PATH.db`, `sqlite:///PATH`, `memory:` or `postgresql://USER:PASSWORD@HOST:PORT/DB`."""
    if address == "memory:":
        return StoreAddress(
            "memory", {**LIBRARY_SETTINGS, "PERSISTENCE_MODULE": "eventsourcing.popo"}
        )
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
        **LIBRARY_SETTINGS,
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    return StoreAddress("sqlite", env, path)


def _postgres(address: str) -> StoreAddress:
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:  # a port that is no number, a bracket left open
        raise StoreAddressError(
            "expected postgresql://USER:PASSWORD@HOST:PORT/DB with a port number (a password "
            "holding @, : or / must be percent-encoded: %40, %3A, %2F)"
        ) from None
    database = parts.path.lstrip("/")
    if not (parts.hostname and parts.username and parts.password and database):
        raise StoreAddressError(
            "expected postgresql://USER:PASSWORD@HOST:PORT/DB with a user, a password "
            "(the event store needs one), a host and a database"
        )
    env = {
        **LIBRARY_SETTINGS,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(port or 5432),
        "POSTGRES_USER": unquote(parts.username),
        "POSTGRES_PASSWORD": unquote(parts.password),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
    }
    return StoreAddress("postgres", env)


def store_environment(name: str, *settings: Mapping[str, str] | None) -> Environment:
    """The library's settings from the store's address and the application's own, nothing else.

    The library's `Application.construct_env` lays the process's environment under the settings
    it is given, and looks up `<NAME>_<KEY>` before `<KEY>`: `AUTOSTART_SQLITE_DBNAME` or
    `POSTGRES_SCHEMA` set in the shell would then beat `--store`. An application opened on a
    store address overrides `construct_env` with this, so the address is the whole configuration.
    """
    merged: dict[str, str] = {}
    for each in settings:
        merged.update(each or {})
    return Environment(name, merged)
