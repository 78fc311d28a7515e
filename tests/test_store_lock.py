"""One replay at a time per store; read models fold only what finished replays wrote."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from replaying import as_lines, at, autostart, opened, replay_into

from domain.starter import EPOCH
from domain.stores import StoreAddress, parse_store
from projections import locks
from projections.database import ReadDatabase
from projections.locks import StoreBusyError, StoreLock, writing
from projections.runner import catch_up, drop_tables, position, rebuild

EXAMPLE = resources.files("simulations").joinpath("examples", "portal.jsonl").read_text()
# A deal at 19:00, after the example's last line.
LATER = as_lines([{"op": "create", "at": at(600), "element": "crm.deal:900", "channel": "ui"}])
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The address of a store holding the example's replay, its read models caught up."""
    if request.param == "postgres":
        address: str = request.getfixturevalue("postgres_url")
    else:
        address = str(tmp_path / "store.db")
    with opened(address) as app:
        replay_into(app, EXAMPLE.splitlines())
        db = ReadDatabase(parse_store(address))
        try:
            assert catch_up(app, db) > 0
        finally:
            db.close()
    return address


@pytest.fixture
def store(url: str) -> StoreAddress:
    return parse_store(url)


@pytest.fixture
def held(store: StoreAddress) -> Iterator[StoreLock]:
    """The store's lock, held exclusively as a running replay holds it."""
    lock = StoreLock(store)
    assert lock.try_exclusive()
    yield lock
    lock.close()


def ledger(store: StoreAddress) -> list[dict[str, Any]]:
    db = ReadDatabase(store)
    try:
        return db.query("SELECT * FROM decisions ORDER BY id")
    finally:
        db.close()


def event_count(url: str) -> int:
    with opened(url) as app:
        return app.position()


def test_a_replay_is_refused_while_another_holds_the_store(
    url: str, held: StoreLock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "WAIT_SECONDS", 0.3)
    traffic = tmp_path / "later.jsonl"
    traffic.write_text("\n".join(LATER) + "\n")
    before = event_count(url)

    code, out, err = autostart("replay", str(traffic), "--store", url)

    assert (code, out) == (2, "")
    assert "is busy: another replay is writing to it (waited 0.3 s)" in err
    assert event_count(url) == before
    held.release()
    assert autostart("replay", str(traffic), "--store", url)[0] == 0
    assert event_count(url) > before


def test_a_replay_waits_for_a_fold_to_finish_its_page(store: StoreAddress) -> None:
    folding = StoreLock(store)
    assert folding.try_shared()
    threading.Timer(0.3, folding.close).start()

    other = StoreLock(store)
    try:
        with writing(store, wait_seconds=30):
            assert not other.try_shared()
    finally:
        other.close()


def test_nothing_is_folded_while_a_replay_writes_and_why_says_so(
    url: str, store: StoreAddress, held: StoreLock
) -> None:
    busy: list[bool] = []
    with opened(url) as app:
        db = ReadDatabase(store)
        try:
            assert catch_up(app, db, on_busy=lambda: busy.append(True)) == 0
        finally:
            db.close()

    code, out, err = autostart("why", "crm.deal:101", "--store", url)

    assert busy == [True]
    assert code == 0
    assert "crm.deal:101" in out
    note = "note: a replay is writing to this store: read models as of its last finished replay"
    assert err == note + "\n"


def test_a_rebuild_is_refused_while_a_replay_writes_and_drops_nothing(
    url: str, store: StoreAddress, held: StoreLock
) -> None:
    before = ledger(store)
    assert before

    code, _, err = autostart("project", "--store", url, "--rebuild")

    assert code == 2
    assert "is busy: a replay is writing to it; rebuild when it has finished" in err
    assert ledger(store) == before
    db = ReadDatabase(store)
    with opened(url) as app, pytest.raises(StoreBusyError):
        rebuild(app, db)
    db.close()


def test_the_events_of_a_killed_replay_are_never_folded(url: str, store: StoreAddress) -> None:
    with opened(url) as app:
        db = ReadDatabase(store)
        try:
            finished = app.position()
            # A replay that died after its first save: its start is recorded, its lock is gone.
            simulation = app.simulation()
            simulation.start_replay("killed", finished, simulation.clock or EPOCH)
            app.save(simulation)
            assert app.position() == finished + 1

            catch_up(app, db)

            assert position(db) == finished
        finally:
            db.close()


def test_two_catch_ups_at_once_fold_every_event_once(url: str, store: StoreAddress) -> None:
    expected = ledger(store)
    with opened(url) as app:
        db = ReadDatabase(store)
        try:
            drop_tables(db)
        finally:
            db.close()
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def fold() -> None:
            own = ReadDatabase(store)
            try:
                barrier.wait()
                catch_up(app, own, page_size=7)
            except BaseException as error:
                errors.append(error)
            finally:
                own.close()

        threads = [threading.Thread(target=fold) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    assert errors == []
    assert ledger(store) == expected


def test_check_one_is_refused_while_a_replay_writes(url: str, held: StoreLock) -> None:
    line = LATER[0]

    code, out, err = autostart("check-one", line, "--store", url)

    assert (code, out) == (2, "")
    assert "is busy: a replay is writing to it; run check-one when it has finished" in err
    held.release()
    assert autostart("check-one", line, "--store", url)[0] == 0


def test_check_one_is_refused_after_an_interrupted_replay_until_the_next_replay(
    url: str, tmp_path: Path
) -> None:
    with opened(url) as app:
        simulation = app.simulation()
        simulation.start_replay("killed", app.position(), simulation.clock or EPOCH)
        app.save(simulation)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")

    code, out, err = autostart("check-one", LATER[0], "--store", url)

    assert (code, out) == (2, "")
    assert "holds the events of a replay that was interrupted" in err
    assert autostart("replay", str(empty), "--store", url)[0] == 0
    assert autostart("check-one", LATER[0], "--store", url)[0] == 0
