"""`autostart collect` refuses a bad set-up in one line, exit status 2, never showing the token."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from collecting import TOKEN

from simulations.cli import main


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "app-token"
    path.write_text(TOKEN)
    return path


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--store", "c.db"], "--listen"),
        (["--listen", "nowhere", "--store", "c.db"], "HOST:PORT"),
        (["--listen", "127.0.0.1:99999", "--store", "c.db"], "HOST:PORT"),
        (["--listen", "127.0.0.1:8080"], "--store or $AUTOSTART_STORE is required"),
        (["--listen", "127.0.0.1:8080", "--store", "memory:"], "lose every acknowledged"),
        (["--listen", "127.0.0.1:8080", "--store", "c.txt"], "expected a path ending in .db"),
        (
            ["--listen", "127.0.0.1:8080", "--store", "postgresql://u@127.0.0.1/db"],
            "password",
        ),
    ],
)
def test_a_bad_collector_set_up_is_refused_in_one_line(
    tmp_path: Path,
    token_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOSTART_STORE", raising=False)

    code = main(["collect", *options, "--app-token-file", str(token_file)])

    err = capsys.readouterr().err
    assert code == 2
    assert words in err
    assert err.startswith("autostart collect: ")
    assert TOKEN not in err
    assert not (tmp_path / "c.db").exists()


def test_the_collector_needs_a_token_and_never_shows_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOSTART_APP_TOKEN", raising=False)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    store = str(tmp_path / "c.db")

    missing = main(["collect", "--listen", "127.0.0.1:8080", "--store", store])
    missing_err = capsys.readouterr().err
    blank = main(
        ["collect", "--listen", "127.0.0.1:8080", "--store", store, "--app-token-file", str(empty)]
    )
    blank_err = capsys.readouterr().err
    absent = main(
        ["collect", "--listen", "127.0.0.1:8080", "--store", store, "--app-token-file", "nope"]
    )
    absent_err = capsys.readouterr().err

    assert (missing, blank, absent) == (2, 2, 2)
    assert "AUTOSTART_APP_TOKEN" in missing_err
    assert "is empty" in blank_err
    assert "nope: cannot read it" in absent_err
    assert not Path(store).exists()


def test_collect_events_on_no_store_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["collect", "events", "--store", str(tmp_path / "none.db")])

    assert code == 2
    assert "no store there" in capsys.readouterr().err


def test_collect_events_since_needs_a_time_with_an_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "c.db"
    store.touch()

    code = main(["collect", "events", "--store", str(store), "--since", "yesterday"])

    assert code == 2
    assert "--since 'yesterday'" in capsys.readouterr().err


def test_a_port_already_taken_is_refused_in_one_line(
    tmp_path: Path, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        code = main(
            [
                "collect",
                "--listen",
                f"127.0.0.1:{port}",
                "--store",
                str(tmp_path / "c.db"),
                "--app-token-file",
                str(token_file),
            ]
        )

    assert code == 2
    assert f"--listen 127.0.0.1:{port}: cannot listen there" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [token_file]  # the port is bound before the store is made


def test_the_store_may_come_from_the_environment_and_its_password_is_never_shown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOSTART_STORE", "memory:")
    from_env = main(["collect", "events"])
    env_err = capsys.readouterr().err
    monkeypatch.setenv("AUTOSTART_STORE", "postgresql://u:s3cretPass@127.0.0.1:1/db")

    unreachable = main(["collect", "events"])
    unreachable_err = capsys.readouterr().err

    assert (from_env, unreachable) == (2, 2)
    assert "--store memory: would lose" in env_err
    assert "cannot open PostgreSQL database db on 127.0.0.1" in unreachable_err
    assert "s3cretPass" not in unreachable_err


@pytest.mark.postgres
def test_reading_a_postgres_store_without_collected_events_creates_nothing(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg  # noqa: PLC0415 - the [postgres] extra

    code = main(["collect", "events", "--store", postgres_url])

    err = capsys.readouterr().err
    assert code == 2
    assert "holds no collected events (no collector_events table)" in err
    assert postgres_url.split("@", maxsplit=1)[0] not in err
    with psycopg.connect(postgres_url) as connection:
        (table,) = connection.execute("SELECT to_regclass('collector_events')").fetchone() or (0,)
    assert table is None
