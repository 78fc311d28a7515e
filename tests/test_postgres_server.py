"""The throwaway PostgreSQL server serves eventsourcing applications and isolates tests."""

from uuid import UUID

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from postgres_server import PostgresServer, eventsourcing_env

pytestmark = pytest.mark.postgres


class Note(Aggregate):
    """A tiny aggregate to write and read back."""

    def __init__(self, text: str) -> None:
        self.text = text

    class Edited(Aggregate.Event):
        text: str

    @event(Edited)
    def edit(self, text: str) -> None:
        self.text = text


class Notes(Application[UUID]):
    """A tiny application that stores notes."""


def test_server_accepts_eventsourcing_application_round_trip(postgres_url: str) -> None:
    env = eventsourcing_env(postgres_url)
    note = Note("draft")
    note.edit("final")

    with Notes(env=env) as writer:
        writer.save(note)
    with Notes(env=env) as reader:
        copy: Note = reader.repository.get(note.id)

    assert (copy.text, copy.version) == ("final", 2)


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_gets_an_empty_database(postgres_url: str, turn: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        # Leave a table behind: the other turn must not see it.
        connection.execute("CREATE TABLE left_behind (turn text)")

    assert tables == [], f"the {turn} turn found tables {tables}"


def test_stopping_the_server_removes_its_folder() -> None:
    with PostgresServer() as server:
        folder = server.folder
        url = server.create_database("scratch")
        with psycopg.connect(url) as connection:
            answer = connection.execute("SELECT 1").fetchone()

    assert answer == (1,)
    assert folder is not None
    assert not folder.exists()
