"""Memory, SQLite and PostgreSQL stores: same decisions, same aggregates on reopening, rollback."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from importlib import resources
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from replaying import as_lines, at, decisions_of, opened, replay_into

from domain.application import AutostartApplication, Workspace
from domain.elements import Element
from domain.simulation import Simulation
from domain.stores import parse_store
from simulations.replay import open_store, replay
from simulations.traffic import BadLineError

EXAMPLE = resources.files("simulations").joinpath("examples", "portal.jsonl").read_text()
# After the example: deal 101 left with two running (one from the example's REST update) and two
# queued.
LATER: list[dict[str, Any]] = [
    {"op": "portal", "at": "2026-03-02T13:20:00+03:00", "plan": "professional"},
    *(
        {"op": "update", "at": f"2026-03-02T13:3{i}:00+03:00", "element": "crm.deal:101",
         "channel": "ui", "changed": {"STEP": i}}
        for i in range(3)
    ),
]  # fmt: skip
TRAFFIC: list[dict[str, Any] | str] = [*EXAMPLE.splitlines(), *LATER]
NAMES = ["crm.deal:101", "crm.deal:102", "crm.lead:7", "feed.iblock_22:901", "disk.storage_1:5120"]
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "store.db")


def stored_rows(url: str) -> list[tuple[Any, ...]]:
    """Every stored event, in the order it was recorded."""
    columns = "originator_id, originator_version, topic, state"
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as connection:
            query = f"SELECT {columns} FROM autostart_events ORDER BY notification_id"
            return connection.execute(query).fetchall()
    with closing(sqlite3.connect(url)) as db:
        return db.execute(f"SELECT {columns} FROM stored_events ORDER BY rowid").fetchall()


def state(element: Element | None) -> dict[str, Any]:
    assert element is not None
    return {k: v for k, v in vars(element).items() if k != "_pending_events"}


def without_line(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in d.items() if k != "line"} for d in decisions]


def refuse_delivery(_: IO[str]) -> None:
    raise AssertionError("a refused replay delivered decisions")


class RecordingWorkspace(Workspace):
    """The replay's own workspace, keeping the live element objects the starter changed."""

    live: dict[str, Element] = {}  # noqa: RUF012

    def get(self, name: str) -> Element | None:
        element = super().get(name)
        if element is not None:
            self.live[name] = element
        return element

    def add(self, element: Element) -> None:
        super().add(element)
        self.live[element.name] = element


def test_memory_and_sqlite_give_identical_decisions(tmp_path: Path) -> None:
    in_memory = decisions_of(TRAFFIC)

    in_sqlite = decisions_of(TRAFFIC, str(tmp_path / "store.db"))

    assert len(in_memory) > len(TRAFFIC)
    assert in_sqlite == in_memory


@pytest.mark.postgres
def test_postgresql_gives_the_same_decisions_as_memory(postgres_url: str) -> None:
    in_postgres = decisions_of(TRAFFIC, postgres_url)

    assert in_postgres == decisions_of(TRAFFIC)


@pytest.mark.parametrize("kind", STORES)
def test_a_reopened_store_reads_elements_as_the_live_run_left_them(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = store_url(kind, tmp_path, request)
    monkeypatch.setattr("simulations.replay.Workspace", RecordingWorkspace)
    monkeypatch.setattr(RecordingWorkspace, "live", {})
    with opened(url) as app:
        replay_into(app, TRAFFIC)
    live = {name: state(RecordingWorkspace.live[name]) for name in NAMES}

    with opened(url) as app:
        reopened = {name: state(app.element(name)) for name in NAMES}

    assert reopened == live
    deal = reopened["crm.deal:101"]
    assert sorted(deal["running"]) == ["crm.deal:101#7", "crm.deal:101#9"]
    assert [queued["process"] for queued in deal["queue"]] == ["crm.deal:101#10", "crm.deal:101#11"]
    assert reopened["crm.deal:102"]["deleted"] is True


@pytest.mark.parametrize("kind", STORES)
def test_a_store_continues_where_the_last_replay_left_it(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url(kind, tmp_path, request)
    first, second = TRAFFIC[: -len(LATER)], TRAFFIC[-len(LATER) :]
    with opened(url) as app:
        replay_into(app, first)

    with opened(url) as app:
        continued = replay_into(app, second)

    assert [d["line"] for d in continued] == [2] * 3 + [3] * 3 + [4] * 3
    assert [(d["outcome"], d["process"]) for d in continued if d["template"] == 11] == [
        ("started", "crm.deal:101#9"),
        ("queued", "crm.deal:101#10"),
        ("queued", "crm.deal:101#11"),
    ]
    assert without_line(continued) == without_line(decisions_of(TRAFFIC)[-len(continued) :])


@pytest.mark.parametrize("kind", STORES)
def test_a_bad_line_rolls_the_store_back_to_exactly_its_previous_rows(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url(kind, tmp_path, request)
    with opened(url) as app:
        replay_into(app, TRAFFIC)
    kept = stored_rows(url)
    good = [
        {"op": "create", "at": f"2026-03-02T14:{i:02}:00+03:00", "element": f"crm.deal:{200 + i}",
         "channel": "ui"}
        for i in range(10)
    ]  # fmt: skip
    bad = {"op": "update", "at": "2026-03-02T15:00:00+03:00", "element": "crm.deal:999",
           "channel": "ui", "changed": {}}  # fmt: skip
    rows_while_replaying: list[int] = []

    with opened(url) as app, pytest.raises(BadLineError) as refused:
        replay(
            app,
            as_lines([*good, bad]),
            refuse_delivery,
            batch_lines=2,
            on_progress=lambda _: rows_while_replaying.append(len(stored_rows(url))),
        )

    assert (refused.value.line, refused.value.field) == (len(good) + 1, "element")
    assert max(rows_while_replaying) > len(kept)  # batches were committed before the bad line
    assert stored_rows(url) == kept
    with opened(url) as app:
        assert app.element("crm.deal:200") is None
        assert replay_into(app, good[:1])[0]["process"] == "crm.deal:200#1"


def test_a_refused_replay_leaves_a_memory_store_as_it_was() -> None:
    app = open_store(parse_store("memory:"))
    template = {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3}
    create = {"op": "create", "at": at(0), "element": "crm.deal:1", "channel": "ui"}

    with pytest.raises(BadLineError):
        replay(app, as_lines([template, create, create]), lambda _: None, batch_lines=2)

    assert app.position() == 0
    assert app.element("crm.deal:1") is None
    assert app.simulation().open_replay is None
    app.close()


class Noted(Aggregate):
    @event("Noted")
    def note(self, text: str) -> None:
        pass


@pytest.mark.postgres
def test_one_large_batch_saves_into_postgresql_without_hanging(postgres_url: str) -> None:
    # psycopg's pipeline mode, eventsourcing's default insert, deadlocks on a batch this large
    # (the server waits for the rest of the message, the client for a result): the store
    # inserts through a database function instead, so the batch goes in one ordinary query.
    app: Application[UUID] = Application(env=parse_store(postgres_url).env)
    aggregates = [Noted() for _ in range(2_000)]
    for number, aggregate in enumerate(aggregates):
        for step in range(9):
            aggregate.note("x" * (100 + (number * 7 + step) % 300))
    saving = threading.Thread(target=app.save, args=aggregates, daemon=True)

    saving.start()
    saving.join(timeout=120)

    assert not saving.is_alive(), "saving 20,000 events into PostgreSQL did not finish"
    assert app.recorder.max_notification_id() == 20_000


@pytest.mark.slow
@pytest.mark.parametrize("kind", STORES)
def test_many_small_replays_load_their_bookkeeping_from_a_snapshot(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # 60 replays of two lines each: 121 Simulation events, a snapshot at version 101.
    template = {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 1}
    creates = [
        {"op": "create", "at": at(minutes), "element": f"crm.deal:{minutes}", "channel": "ui"}
        for minutes in range(1, 120)
    ]
    lines = as_lines([template, *creates])
    url = store_url(kind, tmp_path, request)
    decisions: list[dict[str, Any]] = []
    with opened(url) as app:
        for start in range(0, len(lines), 2):
            decisions += replay_into(app, lines[start : start + 2])
        simulation_id = app.simulation().id
        assert app.snapshots is not None
        snapshots = list(app.snapshots.get(simulation_id, desc=True, limit=1))
        loaded: Simulation = app.repository.get(simulation_id)
    plain = AutostartApplication(parse_store(url), env={"IS_SNAPSHOTTING_ENABLED": "n"})
    try:
        from_events: Simulation = plain.repository.get(simulation_id)
    finally:
        plain.close()

    assert [snapshot.originator_version for snapshot in snapshots] == [101]
    assert loaded.version == from_events.version == 121
    assert vars(loaded) == vars(from_events)
    assert len(decisions) == 119
    assert without_line(decisions) == without_line(decisions_of(lines))
