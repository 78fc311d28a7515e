"""`--store` beats the shell: the library's AUTOSTART_*, SQLITE_*, POSTGRES_* variables are ignored.

The event library reads its settings from the process's environment under the ones it is given,
and `<APPLICATION>_<KEY>` before `<KEY>`: before this rule, `AUTOSTART_SQLITE_DBNAME` set in the
shell sent `autostart replay x.jsonl --store a.db` elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from collecting import TOKEN, delivery
from replaying import autostart, opened

from domain.stores import parse_store
from portal.collector.payload import FORM, parse_delivery
from portal.collector.store import CollectorApplication

AUTOSTART = str(Path(sys.executable).parent / "autostart")
# Every way the library could be told of another store.
SQLITE_ELSEWHERE = ("AUTOSTART_SQLITE_DBNAME", "SQLITE_DBNAME")


def _example(tmp_path: Path) -> Path:
    code, traffic, err = autostart("example")
    assert code == 0, err
    path = tmp_path / "example.jsonl"
    path.write_text(traffic, encoding="utf-8")
    return path


def _stored_events(store: str) -> int:
    with opened(store) as app:
        return app.position()


def test_a_replay_writes_the_store_it_is_given_whatever_the_shell_names(tmp_path: Path) -> None:
    traffic = _example(tmp_path)
    elsewhere = tmp_path / "elsewhere.db"
    env = {**os.environ, "PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    env.update(dict.fromkeys(SQLITE_ELSEWHERE, str(elsewhere)))

    done = subprocess.run(
        [AUTOSTART, "replay", str(traffic), "--store", "a.db", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert not elsewhere.exists()
    assert _stored_events(str(tmp_path / "a.db")) > 40


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUTOSTART_PERSISTENCE_MODULE", "eventsourcing.popo"),
        ("PERSISTENCE_MODULE", "eventsourcing.postgres"),
        ("AUTOSTART_SQLITE_DBNAME", "elsewhere.db"),
        ("AUTOSTART_IS_SNAPSHOTTING_ENABLED", "n"),
    ],
)
def test_one_library_variable_in_the_shell_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    traffic = _example(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)

    code, decisions, err = autostart("replay", str(traffic), "--store", "a.db", "--quiet")

    assert code == 0, err
    assert len(decisions.splitlines()) == 44
    monkeypatch.delenv(variable)
    assert _stored_events(str(tmp_path / "a.db")) > 40
    assert not (tmp_path / "elsewhere.db").exists()


def test_a_postgresql_store_is_written_whatever_the_shell_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    traffic = _example(tmp_path)
    monkeypatch.chdir(tmp_path)
    for variable, value in {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "AUTOSTART_SQLITE_DBNAME": "elsewhere.db",
        "AUTOSTART_POSTGRES_DBNAME": "no_such_database",
        "POSTGRES_HOST": "192.0.2.1",
        "AUTOSTART_POSTGRES_PASSWORD": "wrong",
        "POSTGRES_SCHEMA": "elsewhere",
    }.items():
        monkeypatch.setenv(variable, value)

    code, decisions, err = autostart("replay", str(traffic), "--store", postgres_url, "--quiet")

    assert code == 0, err
    assert len(decisions.splitlines()) == 44
    for variable in ("POSTGRES_SCHEMA", "AUTOSTART_POSTGRES_DBNAME", "POSTGRES_HOST"):
        monkeypatch.delenv(variable)
    assert _stored_events(postgres_url) > 40
    assert not (tmp_path / "elsewhere.db").exists()


def test_the_collector_records_in_the_store_it_is_given_whatever_the_shell_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    monkeypatch.setenv("COLLECTOR_SQLITE_DBNAME", str(elsewhere))
    monkeypatch.setenv("SQLITE_DBNAME", str(elsewhere))
    monkeypatch.setenv("COLLECTOR_PERSISTENCE_MODULE", "eventsourcing.popo")
    one = parse_delivery(delivery("ONCRMDEALUPDATE", 101, 1), FORM, TOKEN.encode())

    app = CollectorApplication(parse_store(str(tmp_path / "c.db")))
    app.record([(one, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))])
    app.close()

    monkeypatch.delenv("COLLECTOR_PERSISTENCE_MODULE")
    monkeypatch.delenv("COLLECTOR_SQLITE_DBNAME")
    monkeypatch.delenv("SQLITE_DBNAME")
    again = CollectorApplication(parse_store(str(tmp_path / "c.db")))
    assert [r["document"] for r in again.deliveries()] == ["crm.deal:101"]
    again.close()
    assert not elsewhere.exists()


def test_the_collector_on_postgresql_ignores_the_shell(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    monkeypatch.setenv("COLLECTOR_POSTGRES_DBNAME", "no_such_database")
    one = parse_delivery(delivery("ONCRMDEALUPDATE", 102, 1), FORM, TOKEN.encode())

    app = CollectorApplication(parse_store(postgres_url))
    app.record([(one, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))])
    app.close()

    monkeypatch.delenv("PERSISTENCE_MODULE")
    monkeypatch.delenv("COLLECTOR_POSTGRES_DBNAME")
    again = CollectorApplication(parse_store(postgres_url))
    assert [r["document"] for r in again.deliveries()] == ["crm.deal:102"]
    again.close()
