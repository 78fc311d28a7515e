"""The ledger folded as a replay writes its events equals the ledger folded by reading them back."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from domain.application import AutostartApplication
from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.runner import catch_up, drop_tables
from projections.schema import TABLES
from projections.written import WrittenPages
from simulations.cli import main
from simulations.generate import generate
from simulations.replay import open_store, replay
from simulations.scenario import load as load_scenario

SCENARIOS = ["typical-cloud", "heavy-import", "loop-prone", "on-premise-feed-drive"]


def _tables(db: ReadDatabase) -> dict[str, list[dict[str, Any]]]:
    return {table: db.query(f"SELECT * FROM {table} ORDER BY 1, 2") for table in TABLES}


def _rebuilt(app: AutostartApplication, db: ReadDatabase) -> dict[str, list[dict[str, Any]]]:
    drop_tables(db)
    catch_up(app, db)
    return _tables(db)


def _replay(app: AutostartApplication, lines: list[str], written: WrittenPages | None) -> None:
    def deliver(source: IO[str]) -> None:
        io.StringIO().write(source.read())

    replay(
        app,
        lines,
        deliver,
        batch_lines=97,  # many pages, and pages that end inside a cascade
        on_stored=None if written is None else written.stored,
    )


def _traffic(
    scenario: str, lines: int, seed: int = 5, after: AutostartApplication | None = None
) -> list[str]:
    """A scenario's traffic; `after` a store, continuing it (its clock, its ids)."""
    if after is None:
        return list(generate(load_scenario(scenario), events=lines, seed=seed))
    simulation = after.simulation()
    return list(
        generate(
            load_scenario(scenario),
            events=lines,
            seed=seed,
            start=simulation.clock,
            last_ids=simulation.last_ids,
        )
    )


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[AutostartApplication, ReadDatabase]]:
    store = parse_store(str(tmp_path / "s.db"))
    app = open_store(store)
    db = ReadDatabase(store)
    yield app, db
    db.close()
    app.close()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_page_folded_ahead_goes_in_and_equals_a_rebuild(
    scenario: str, sqlite_store: tuple[AutostartApplication, ReadDatabase]
) -> None:
    app, db = sqlite_store
    with WrittenPages() as written:
        _replay(app, _traffic(scenario, 600), written)
        # A second replay into the same store: its pages start after the first one's rows.
        catch_up(app, db, written=written)
        assert written.pages > 5
        assert written.taken == written.pages
    with WrittenPages() as written:
        _replay(app, _traffic(scenario, 300, seed=6, after=app), written)
        catch_up(app, db, written=written)
        assert written.taken == written.pages > 0
    folded_ahead = _tables(db)
    assert folded_ahead["decisions"]
    assert folded_ahead == _rebuilt(app, db)


def test_pages_another_fold_has_begun_are_read_back_instead(
    sqlite_store: tuple[AutostartApplication, ReadDatabase],
) -> None:
    app, db = sqlite_store
    with WrittenPages() as written:
        _replay(app, _traffic("typical-cloud", 600), written)
        # Another process folds part of the replay first, stopping inside a page.
        middle = app.position() // 2
        catch_up(app, db, stop=middle, page_size=333)
        catch_up(app, db, written=written)
        assert 0 < written.taken < written.pages
    assert _tables(db) == _rebuilt(app, db)


def test_the_replay_command_leaves_the_ledger_a_rebuild_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = tmp_path / "t.jsonl"
    traffic.write_text("".join(line + "\n" for line in _traffic("loop-prone", 800)))
    store = str(tmp_path / "c.db")
    assert main(["replay", str(traffic), "--store", store, "--decisions", "/dev/null"]) == 0
    capsys.readouterr()
    address = parse_store(store)
    app = open_store(address)
    db = ReadDatabase(address)
    try:
        folded_ahead = _tables(db)
        assert folded_ahead["halts"], "loop-prone halts runaway cascades"
        assert folded_ahead == _rebuilt(app, db)
    finally:
        db.close()
        app.close()


def test_postgres_pages_folded_ahead_equal_a_rebuild(postgres_url: str) -> None:
    address = parse_store(postgres_url)
    app = open_store(address)
    db = ReadDatabase(address)
    try:
        with WrittenPages() as written:
            _replay(app, _traffic("on-premise-feed-drive", 400), written)
            catch_up(app, db, written=written)
            assert written.taken == written.pages > 0
        assert _tables(db) == _rebuilt(app, db)
    finally:
        db.close()
        app.close()
