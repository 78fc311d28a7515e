"""The reading side: `why` on a store, and the decisions frame beside pandas' own read."""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from typing import Any

from domain.stores import StoreAddress
from projections.database import ReadDatabase, connect_postgres
from simulations.bench.runs import autostart

# Elements asked about on each store, spread over the kind's ids.
WHY_ELEMENTS = 5


def commonest_kind(store: StoreAddress) -> str:
    """The document type with the most elements: the kind `why` is asked about."""
    db = ReadDatabase(store)
    try:
        rows = db.query(
            "SELECT document_type, count(*) AS n FROM elements"
            " GROUP BY document_type ORDER BY n DESC, document_type LIMIT 1"
        )
    finally:
        db.close()
    if not rows:
        raise RuntimeError(f"{store.describe()} has no elements to ask why about")
    return str(rows[0]["document_type"])


def elements_of(store: StoreAddress, kind: str, count: int = WHY_ELEMENTS) -> list[str]:
    """`count` elements of `kind`, evenly spread from the first id to the last."""
    db = ReadDatabase(store)
    try:
        rows = db.query(
            "SELECT element FROM elements WHERE document_type = ? ORDER BY number", (kind,)
        )
    finally:
        db.close()
    names = [str(row["element"]) for row in rows]
    if not names:
        raise RuntimeError(f"{store.describe()} has no element of {kind}")
    step = max(len(names) // count, 1)
    return names[step // 2 :: step][:count]


def why_seconds(address: str, elements: list[str], runs: int) -> list[float]:
    """Seconds of each `autostart why ELEMENT --store ADDRESS`, every element `runs` times."""
    return [
        autostart("why", element, "--store", address).seconds
        for _ in range(runs)
        for element in elements
    ]


def frame_seconds(address: str, store: StoreAddress) -> tuple[float, float, int]:
    """Seconds to load the decisions frame, seconds for pandas.read_sql of the raw `decisions`
    table, and the rows. Needs pandas (the [report] extra)."""
    import pandas as pd  # noqa: PLC0415 - the [report] extra, checked by the caller

    from projections.frames import decisions_frame  # noqa: PLC0415 - imports pandas

    started = time.perf_counter()
    frame = decisions_frame(address)
    loaded = time.perf_counter() - started
    connection: Any = (
        connect_postgres(store)
        if store.kind == "postgres"
        else sqlite3.connect(str(store.path) if store.path else os.devnull)
    )
    try:
        with warnings.catch_warnings():
            # pandas names SQLAlchemy for any connection but sqlite3's; psycopg's reads the same.
            warnings.filterwarnings("ignore", "pandas only supports SQLAlchemy", UserWarning)
            started = time.perf_counter()
            raw = pd.read_sql("SELECT * FROM decisions", connection)
            read = time.perf_counter() - started
    finally:
        connection.close()
    if len(raw) != len(frame):
        raise RuntimeError(f"the frame has {len(frame)} rows, the decisions table {len(raw)}")
    return loaded, read, len(frame)
