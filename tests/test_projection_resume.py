"""The ledger resumes after any interruption and always equals a rebuild from the first event."""

from __future__ import annotations

import bisect
import itertools
import json
import random
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from replaying import START, replay_into

from domain.application import AutostartApplication
from domain.stores import StoreAddress, parse_store
from projections.database import ReadDatabase
from projections.ledger import Page
from projections.runner import catch_up, create_tables, drop_tables, position, rebuild
from projections.schema import TABLES
from simulations.cli import main
from simulations.replay import open_store

Snapshot = dict[str, list[dict[str, Any]]]
Step = tuple[str, int]  # ("stop", per-mille of the store) or ("raise" | "close", crashing page)

HEADER: list[dict[str, Any]] = [
    {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3,
     "duration": 1800},
    {"op": "template", "template": 12, "document_type": "crm.deal", "auto_execute": 1,
     "duration": 600, "actions": [{"update": {"STAGE_ID": "NEW"}}]},
    {"op": "template", "template": 21, "document_type": "crm.lead", "auto_execute": 3,
     "duration": 300, "actions": [{"create": "crm.contact"}]},
    {"op": "template", "template": 61, "document_type": "crm.contact", "auto_execute": 1},
    {"op": "template", "template": 31, "document_type": "feed.iblock_22", "auto_execute": 1,
     "duration": 900},
    {"op": "template", "template": 41, "document_type": "disk.storage_1", "auto_execute": 3,
     "duration": 120},
]  # fmt: skip
TYPES = ("crm.deal", "crm.deal", "crm.lead", "feed.iblock_22", "disk.storage_1")
CHANNELS = {
    "crm": ("ui", "web_form", "call", "rest"),
    "feed": ("ui", "feed"),
    "disk": ("ui", "sync"),
}
MEMORY_DISK = Path("/dev/shm")  # many small commits: durability is not what is under test
ORDER = {
    "read_model_positions": "name",
    "elements": "stream",
    "changes": "id",
    "decisions": "id",
    "processes": "process",
    "templates": "template, version",
    "settings": "id",
    "halts": "id",
}


def traffic(seed: int, lines: int, start: datetime, first_id: int) -> list[dict[str, Any]]:
    """Seeded traffic: creates, updates of a few hot elements (so queues form), deletes,
    imports, template reconfigurations and limit changes."""
    rng = random.Random(seed)
    at, live = start, {t: list[int]() for t in TYPES}
    next_id = dict.fromkeys(TYPES, first_id)
    out: list[dict[str, Any]] = []
    for _ in range(lines):
        at += timedelta(seconds=rng.randint(1, 120))
        roll, kind = rng.random(), rng.choice(TYPES)
        line: dict[str, Any] = {"at": at.isoformat()}
        hot = live[kind][-4:]
        if roll < 0.02:
            duration = rng.choice([60, 600, 3600])
            template = rng.choice([11, 12, 31])
            line |= {"op": "template", "template": template, "duration": duration}
            line["actor"] = f"admin_{seed}"
        elif roll < 0.03:
            line |= {"op": "portal", "limit_simultaneous_processes": rng.randint(1, 3)}
        elif roll < 0.07 and not kind.startswith("disk"):
            batch = [next_id[kind] + k for k in range(rng.randint(1, 3))]
            next_id[kind] += len(batch)
            live[kind].extend(batch)
            names = [f"{kind}:{i}" for i in batch]
            line |= {"op": "import", "document_type": kind, "file": "x.csv", "elements": names}
        elif roll < 0.10 and hot:
            gone = rng.choice(hot)
            live[kind].remove(gone)
            line |= {"op": "delete", "element": f"{kind}:{gone}"}
        elif roll < 0.55 and hot:
            line |= {"op": "update", "element": f"{kind}:{rng.choice(hot)}"}
            line |= {
                "channel": rng.choice(CHANNELS[kind.split(".")[0]]),
                "changed": {"F": rng.randint(0, 9)},
            }
        else:
            line |= {"op": "create", "element": f"{kind}:{next_id[kind]}"}
            line["channel"] = rng.choice(CHANNELS[kind.split(".")[0]])
            live[kind].append(next_id[kind])
            next_id[kind] += 1
        out.append(line)
    return out


def snapshot(db: ReadDatabase) -> Snapshot:
    assert set(ORDER) == set(TABLES), "every read-model table takes part in the comparison"
    return {table: db.query(f"SELECT * FROM {table} ORDER BY {ORDER[table]}") for table in TABLES}


def rows_beyond(db: ReadDatabase, done: int) -> int:
    """Rows of events after `done`: they must not be there while the position is `done`."""
    queries = [f"SELECT count(*) AS n FROM {t} WHERE id > ?" for t in ("changes", "decisions",
               "templates", "settings", "halts")]  # fmt: skip
    queries.append("SELECT count(*) AS n FROM processes WHERE decision > ?")
    return sum(int(db.query(q, (done,))[0]["n"]) for q in queries)


class SimulatedCrashError(Exception):
    """The projection process dies in the middle of writing a page."""


def half(page: Page) -> Page:
    def cut(rows: Any) -> Any:
        kept = list(rows.items() if isinstance(rows, dict) else rows)[: (len(rows) + 1) // 2]
        return dict(kept) if isinstance(rows, dict) else kept

    return Page(**{f.name: cut(getattr(page, f.name)) for f in fields(Page)})


def crashing_write(page_number: int, how: str) -> Any:
    """A `Page.write` that writes pages whole until `page_number`, then half of it and dies."""
    write, pages = Page.write, itertools.count(1)

    def crashing(page: Page, db: ReadDatabase) -> None:
        if next(pages) < page_number:
            write(page, db)
            return
        write(half(page), db)
        if how == "close":
            db.close()
        raise SimulatedCrashError(f"killed while writing page {page_number}")

    return crashing


@dataclass
class Interruptions:
    """Runs catch-ups that stop early or crash, checking each leaves a clean committed prefix."""

    app: AutostartApplication
    store: StoreAddress
    page_size: int
    tell: Callable[[str], None] = note

    def __post_init__(self) -> None:
        self.ids = [n.id for n in self.app.recorder.select_notifications(start=1, limit=10**9)]

    def run(self, steps: list[Step]) -> None:
        for how, value in steps:
            self.tell(f"{how} {value} (page size {self.page_size})")
            db = ReadDatabase(self.store)
            try:
                create_tables(db)
                before, rows = position(db), snapshot(db)
                if how == "stop":
                    expected = self.stop_early(db, before, self.ids[-1] * value // 1000)
                else:
                    expected = self.crash(db, before, how, value)
            finally:
                db.close()
            db = ReadDatabase(self.store)  # the process restarts
            try:
                assert position(db) == expected, (
                    "after a restart the position is not the last page committed whole"
                )
                assert rows_beyond(db, expected) == 0, "rows of the crashed page were kept"
                if expected == before:
                    assert snapshot(db) == rows, "a crashed page left rows or moved the position"
            finally:
                db.close()

    def stop_early(self, db: ReadDatabase, before: int, stop: int) -> int:
        """Catches up to `stop` only; returns the position it must leave."""
        catch_up(self.app, db, page_size=self.page_size, stop=stop)

        reached = self.ids[bisect.bisect_right(self.ids, stop) - 1] if stop >= self.ids[0] else 0
        assert position(db) == max(before, reached)
        return max(before, reached)

    def crash(self, db: ReadDatabase, before: int, how: str, page_number: int) -> int:
        """Crashes catch-up in its `page_number`th page; returns the position it must leave."""
        ahead = self.ids[bisect.bisect_right(self.ids, before) :]
        committed = (page_number - 1) * self.page_size
        crashes = len(ahead) > committed

        with mock.patch.object(Page, "write", crashing_write(page_number, how)):
            try:
                catch_up(self.app, db, page_size=self.page_size)
            except (SimulatedCrashError, sqlite3.Error, psycopg.Error):
                assert crashes, "a crash was reported though no page was left to crash in"
            else:
                assert not crashes, "the crashing page was written without raising"

        if not crashes:
            return self.ids[-1]
        return ahead[committed - 1] if committed else before


def finish_and_compare(app: AutostartApplication, store: StoreAddress, reference: Snapshot) -> None:
    db = ReadDatabase(store)
    try:
        catch_up(app, db)
        resumed = snapshot(db)
        again = catch_up(app, db)

        assert resumed == reference
        assert again == 0
        assert snapshot(db) == resumed, "catching up twice applied events twice"
    finally:
        db.close()


class Recorded:
    """A SQLite store of replayed traffic without read models, and a rebuild's snapshot."""

    def __init__(self, pristine: Path, reference: Snapshot) -> None:
        self.pristine, self.reference = pristine, reference

    def __repr__(self) -> str:  # Hypothesis prints it with every failing example
        return f"Recorded({self.pristine})"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    folder = tmp_path_factory.mktemp("recorded")
    pristine, reference = folder / "pristine.db", folder / "reference.db"
    app = open_store(parse_store(str(pristine)))
    try:
        decisions = replay_into(app, HEADER + traffic(7, 450, START, 1))
    finally:
        app.close()
    assert {"queued", "started", "skipped"} <= {d["outcome"] for d in decisions}
    shutil.copy(pristine, reference)
    app, db = open_store(parse_store(str(reference))), ReadDatabase(parse_store(str(reference)))
    try:
        rebuild(app, db)
        yield Recorded(pristine, snapshot(db))
    finally:
        db.close()
        app.close()


def test_catching_up_again_never_applies_an_event_twice(recorded: Recorded, tmp_path: Path) -> None:
    shutil.copy(recorded.pristine, tmp_path / "store.db")
    store = parse_store(str(tmp_path / "store.db"))
    app, db = open_store(store), ReadDatabase(store)
    try:
        folded = catch_up(app, db, page_size=50)
        counts = {table: len(rows) for table, rows in snapshot(db).items()}
        db.close()
        db = ReadDatabase(store)  # as a new process would

        again = catch_up(app, db, page_size=50)

        assert (folded, again) == (app.position(), 0)
        assert {table: len(rows) for table, rows in snapshot(db).items()} == counts
    finally:
        db.close()
        app.close()


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("stop"), st.integers(0, 1000)),
        st.tuples(st.sampled_from(["raise", "close"]), st.integers(1, 3)),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, page_size=st.integers(3, 97))
def test_a_ledger_interrupted_anywhere_resumes_to_equal_a_rebuild_on_sqlite(
    recorded: Recorded, steps: list[Step], page_size: int
) -> None:
    with tempfile.TemporaryDirectory(dir=MEMORY_DISK if MEMORY_DISK.is_dir() else None) as folder:
        copy = Path(folder) / "store.db"
        shutil.copy(recorded.pristine, copy)
        store = parse_store(str(copy))
        app = open_store(store)
        try:
            Interruptions(app, store, page_size).run(steps)

            finish_and_compare(app, store, recorded.reference)
        finally:
            app.close()


@pytest.mark.postgres
def test_a_ledger_interrupted_anywhere_resumes_to_equal_a_rebuild_on_postgres(
    postgres_url: str,
) -> None:
    store = parse_store(postgres_url)
    app = open_store(store)
    try:
        replay_into(app, HEADER + traffic(7, 300, START, 1))
        db = ReadDatabase(store)
        try:
            rebuild(app, db)
            reference = snapshot(db)
        finally:
            db.close()
        rng = random.Random(3)
        for page_size in (5, 41):
            db = ReadDatabase(store)
            drop_tables(db)
            db.close()
            steps: list[Step] = [("stop", rng.randint(0, 1000)), ("raise", 1), ("close", 2),
                                 ("stop", rng.randint(0, 1000)), ("raise", 3)]  # fmt: skip

            Interruptions(app, store, page_size, tell=print).run(steps)

            finish_and_compare(app, store, reference)
    finally:
        app.close()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_replay_continued_later_adds_rows_equal_to_a_rebuild(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    address = url or str(tmp_path / "store.db")
    store = parse_store(address)
    later = START + timedelta(days=2)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(
        "".join(json.dumps(line) + "\n" for line in HEADER + traffic(11, 200, START, 1))
    )
    second.write_text("".join(json.dumps(line) + "\n" for line in traffic(12, 200, later, 10**5)))
    assert main(["replay", str(first), "--store", address, "--decisions", str(tmp_path / "1")]) == 0
    app, db = open_store(store), ReadDatabase(store)
    try:
        projected = position(db), app.position()
        unfinished = {row["process"] for row in db.query(
            "SELECT process FROM processes WHERE ended_at IS NULL")}  # fmt: skip
    finally:
        db.close()
        app.close()

    code = main(["replay", str(second), "--store", address, "--decisions", str(tmp_path / "2")])

    assert code == 0
    assert projected[0] == projected[1], "the first replay left the read models behind"
    assert unfinished, "the first replay should end with processes still queued or running"
    app, db = open_store(store), ReadDatabase(store)
    try:
        assert position(db) == app.position(), "the replay left the read models behind"
        incremental = snapshot(db)
        carried = [p for p in incremental["processes"] if p["process"] in unfinished]
        assert all(p["ended_at"] for p in carried), "the first replay's process rows not updated"
        rebuild(app, db)
        assert snapshot(db) == incremental
    finally:
        db.close()
        app.close()
