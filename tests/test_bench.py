"""`autostart bench` measures every figure beside its baseline, leaves nothing behind, and keeps
the database password out of what it prints."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

FIGURES = {
    "replay",
    "write_path",
    "write_path_vs_save",
    "rebuild",
    "why",
    "frame",
    "memory",
    "store_size",
}
WITH_TARGETS = {"replay", "rebuild", "why", "memory", "store_size"}


def bench(*args: str, tmp: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`autostart bench ARGS` with its temporary files in `tmp` (TMPDIR), from `tmp`."""
    return subprocess.run(
        [sys.executable, "-m", "simulations.cli", "bench", *args],
        cwd=tmp,
        env={**os.environ, "TMPDIR": str(tmp)},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def assert_every_figure_measured(report: dict[str, object]) -> None:
    figures = report["figures"]
    assert isinstance(figures, dict)
    assert set(figures) == FIGURES
    for name, figure in figures.items():
        assert "skipped" not in figure, (name, figure)
        assert figure["value"] > 0, (name, figure)
        assert figure["baseline"] > 0, (name, figure)
        if name != "store_size":
            assert figure["ratio"] > 0, (name, figure)
        assert (figure["target"] is not None) == (name in WITH_TARGETS), (name, figure)
        assert figure["met"] in ((True, False) if name in WITH_TARGETS else (None,)), name


@pytest.mark.slow
def test_a_sqlite_bench_measures_every_figure_and_leaves_no_file(tmp_path: Path) -> None:
    done = bench("--lines", "20000", "--runs", "1", "--json", tmp=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report = json.loads(done.stdout)
    assert (report["store"], report["lines"], report["runs"]) == ("SQLite", 20000, 1)
    assert report["stored_events"] > 20000
    assert_every_figure_measured(report)
    replay = report["figures"]["replay"]
    assert replay["baseline_name"] == "raw executemany"
    assert replay["lines_per_s"] < replay["value"]
    assert (
        report["figures"]["store_size"]["events_bytes"]
        < report["figures"]["store_size"]["store_bytes"]
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
@pytest.mark.slow
def test_a_postgresql_bench_keeps_the_password_out_and_empties_the_database(
    postgres_url: str, tmp_path: Path
) -> None:
    password = urlsplit(postgres_url).password
    assert password

    done = bench("--lines", "2000", "--runs", "1", "--json", "--store", postgres_url, tmp=tmp_path)

    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["store"] == "PostgreSQL"
    assert_every_figure_measured(report)
    assert report["figures"]["replay"]["baseline_name"] == "raw COPY"
    assert objects_in(postgres_url) == []
    assert list(tmp_path.iterdir()) == []


def objects_in(url: str) -> list[tuple[str, str]]:
    """Every table, type, function and schema a user made in the database."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " UNION ALL SELECT n.nspname, p.proname FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
            " UNION ALL SELECT nspname, '' FROM pg_namespace WHERE nspname LIKE 'autostart%'"
        ).fetchall()
    return [(str(schema), str(name)) for schema, name in rows]


@pytest.mark.postgres
def test_a_database_that_is_not_empty_is_refused_and_left_as_it_was(
    postgres_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(postgres_url) as connection:
        connection.execute("CREATE TABLE keep_me (id int)")
    password = urlsplit(postgres_url).password or "?"

    done = bench("--lines", "100", "--runs", "1", "--store", postgres_url, tmp=tmp_path)

    assert done.returncode == 2
    assert "is not empty (public.keep_me)" in done.stderr
    assert "Traceback" not in done.stderr
    assert password not in done.stdout + done.stderr
    assert done.stdout == ""
    assert objects_in(postgres_url) == [("public", "keep_me")]


@pytest.mark.postgres
def test_a_wrong_password_is_refused_without_being_shown(postgres_url: str, tmp_path: Path) -> None:
    parts = urlsplit(postgres_url)
    wrong = "n0t-the-Pa55word"
    url = postgres_url.replace(f":{parts.password}@", f":{wrong}@")

    done = bench("--lines", "100", "--runs", "1", "--store", url, tmp=tmp_path)

    assert done.returncode == 2
    assert "authentication failed" in done.stderr
    assert wrong not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--lines", "0"], "--lines: expected a whole number of 100 or more, got '0'"),
        (["--lines", "99"], "--lines: expected a whole number of 100 or more, got '99'"),
        (["--lines", "many"], "--lines: expected a whole number of 100 or more, got 'many'"),
        (["--runs", "0"], "--runs: expected a whole number of 1 or more, got '0'"),
        (["--store", "mysql://bench:s3cret-Pa55@127.0.0.1/db"], "--store: expected sqlite,"),
        (["--store", "postgresql://bench@127.0.0.1/db"], "with a user, a password"),
        (["--store", "memory:"], "--store: expected sqlite, postgresql"),
        (["--fast"], "unrecognized arguments: --fast"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    args: list[str], expected: str, tmp_path: Path
) -> None:
    done = bench(*args, tmp=tmp_path, timeout=60)

    assert done.returncode == 2
    assert expected in done.stderr
    assert "s3cret-Pa55" not in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_bench_help_names_every_option_and_the_targets_exit_status() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "bench", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 0
    for option in ("--lines", "--runs", "--store", "--json"):
        assert option in done.stdout
    assert "exit status 0 whether or not the targets are met" in " ".join(done.stdout.split())


@pytest.mark.slow
def test_on_a_terminal_the_bench_says_each_step_on_stderr(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "simulations.cli", "bench", "--lines", "100", "--runs", "1"],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=terminal,
    ) as process:
        os.close(terminal)
        shown = b""
        while chunk := _read(controller):
            shown += chunk
        table = process.communicate(timeout=300)[0].decode()
    os.close(controller)

    steps = shown.decode()
    assert process.returncode == 0, steps
    assert "autostart bench: replay 1 of 1" in steps
    assert "autostart bench: rebuild 1 of 1" in steps
    assert "autostart bench:" not in table.split("\n", 1)[1]
    assert table.splitlines()[2].split() == [
        "figure",
        "value",
        "baseline",
        "ratio",
        "target",
        "met",
    ]


def _read(controller: int) -> bytes:
    try:
        return os.read(controller, 4096)
    except OSError:
        return b""


# The command line with some modules made unimportable, as if their extra were not installed.
WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from simulations.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_without_pandas_the_frame_is_skipped_saying_why(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT, "pandas", "bench", "--lines", "100", "--runs", "1",
         "--json"],
        cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)["figures"]
    assert figures["frame"] == {"skipped": "pandas is not installed (the [report] extra)"}
    assert figures["replay"]["value"] > 0


def test_a_postgresql_bench_without_psycopg_names_the_extra(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT, "psycopg,psycopg_pool", "bench", "--store", "postgresql"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip

    assert done.returncode == 2
    assert "this needs the [postgres] extra" in done.stderr
    assert "Traceback" not in done.stderr
