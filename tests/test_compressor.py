"""The event store's states, compressed with the shipped dictionary, and stores written before."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import IO
from uuid import UUID

import pytest
import zstandard
from eventsourcing.application import Application

from domain.application import AutostartApplication
from domain.compressor import (
    CURRENT_DICTIONARY,
    ZSTD_MAGIC,
    EventCompressor,
    UnknownDictionaryError,
    shipped_dictionaries,
)
from domain.elements import Element
from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.runner import catch_up, drop_tables
from simulations.generate import generate
from simulations.replay import open_store, replay
from simulations.scenario import load


def _replay(app: AutostartApplication, lines: int, seed: int = 3) -> None:
    def deliver(source: IO[str]) -> None:
        io.StringIO().write(source.read())

    simulation = app.simulation()
    traffic = generate(
        load("typical-cloud"),
        events=lines,
        seed=seed,
        start=simulation.clock,
        last_ids=simulation.last_ids,
    )
    replay(app, traffic, deliver)


def _states(path: Path) -> list[bytes]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT state FROM stored_events ORDER BY rowid")]


def test_the_current_dictionary_is_shipped_and_round_trips() -> None:
    assert CURRENT_DICTIONARY in shipped_dictionaries()
    compressor = EventCompressor()
    for data in (b"", b"{}", '{"text":"Привет"}'.encode(), b'{"a":1}' * 500):
        packed = compressor.compress(data)
        assert packed.startswith(ZSTD_MAGIC)
        assert compressor.decompress(packed) == data


def test_states_are_stored_compressed_and_small(tmp_path: Path) -> None:
    store = parse_store(str(tmp_path / "s.db"))
    app = open_store(store)
    _replay(app, 1500)
    app.close()
    states = _states(tmp_path / "s.db")
    assert all(state.startswith(ZSTD_MAGIC) for state in states)
    # 415 bytes of JSON on average before; the dictionary makes it about 60.
    assert sum(map(len, states)) / len(states) < 120


def test_a_store_written_before_compression_is_read_and_continued(tmp_path: Path) -> None:
    store = parse_store(str(tmp_path / "old.db"))
    old = AutostartApplication(store, env={"COMPRESSOR_TOPIC": ""})
    _replay(old, 400)
    old.close()
    assert not any(s.startswith(ZSTD_MAGIC) for s in _states(tmp_path / "old.db"))

    app = open_store(store)
    _replay(app, 400, seed=4)  # loads the old aggregates, adds compressed events
    states = _states(tmp_path / "old.db")
    assert any(s.startswith(ZSTD_MAGIC) for s in states)
    assert not all(s.startswith(ZSTD_MAGIC) for s in states)
    db = ReadDatabase(store)
    try:
        drop_tables(db)
        assert catch_up(app, db) == app.position()
        # Every decision of both replays, the old one's read from uncompressed states.
        folded = db.query("SELECT count(*) AS n FROM decisions")[0]["n"]
        with sqlite3.connect(tmp_path / "old.db") as raw:
            (decided,) = raw.execute(
                "SELECT count(*) FROM stored_events WHERE topic LIKE '%Element.Decided'"
            ).fetchone()
        assert folded == decided > 0
    finally:
        db.close()
        app.close()


def test_the_library_reads_the_store_through_its_settings(tmp_path: Path) -> None:
    store = parse_store(str(tmp_path / "s.db"))
    app = open_store(store)
    _replay(app, 200)
    app.close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        stream = db.execute(
            "SELECT originator_id FROM stored_events WHERE topic LIKE '%Element.Created' LIMIT 1"
        ).fetchone()[0]
    plain: Application[UUID] = Application(store.env)
    element: Element = plain.repository.get(UUID(stream))
    assert element.name.startswith("crm.")


def test_a_dictionary_this_version_lacks_is_named() -> None:
    samples: list[bytes | bytearray | memoryview] = [
        f'{{"k{i}":{i},"rule":"channel.starts"}}'.encode() for i in range(2000)
    ]
    other = zstandard.train_dictionary(1024, samples, dict_id=999_999)
    packed = zstandard.ZstdCompressor(dict_data=other).compress(b'{"k1":1}')
    with pytest.raises(UnknownDictionaryError, match="dictionary 999999"):
        EventCompressor().decompress(packed)
