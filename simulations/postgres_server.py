"""A throwaway PostgreSQL server, run from the server binaries installed on the machine.

The tests start one for the suite; `autostart bench --store postgresql` one for its run.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

SERVER_ROOT = Path("/usr/lib/postgresql")
USER = "postgres"
HOST = "127.0.0.1"
START_ATTEMPTS = 3
# Bounds on a server program and on connecting, so a stuck server fails the run with its log.
PROGRAM_SECONDS = 120
CONNECT_SECONDS = 10


class PostgresServerError(RuntimeError):
    """A server program failed; the message holds its output and the server log."""


def newest_bin_dir() -> Path:
    """Return the `bin` folder of the newest installed PostgreSQL server."""
    versions = [path.parent for path in SERVER_ROOT.glob("*/bin/initdb")]
    if not versions:
        raise FileNotFoundError(
            f"no PostgreSQL server under {SERVER_ROOT}; run scripts/bootstrap.sh"
        )
    return max(versions, key=lambda bin_dir: _version_key(bin_dir.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def eventsourcing_env(url: str) -> dict[str, str]:
    """Return the `env` that points an eventsourcing `Application` at the database `url`."""
    parts = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parts["dbname"]),
        "POSTGRES_HOST": str(parts["host"]),
        "POSTGRES_PORT": str(parts["port"]),
        "POSTGRES_USER": str(parts["user"]),
        "POSTGRES_PASSWORD": str(parts["password"]),
    }


class PostgresServer:
    """A PostgreSQL server in a temporary folder, on a free port of 127.0.0.1, without fsync.

    Use as a context manager, or call `start()` and `stop()`. `create_database(name)` returns the
    URL of a new empty database; user `postgres`, a new random password for each server (it
    listens where other local users could connect).
    """

    def __init__(self) -> None:
        self.bin_dir = newest_bin_dir()
        self.password = secrets.token_hex(16)
        self.folder: Path | None = None
        self.port: int | None = None

    @property
    def data_dir(self) -> Path:
        return self._started_folder() / "data"

    @property
    def log_file(self) -> Path:
        return self._started_folder() / "server.log"

    def start(self) -> None:
        if self.folder is not None:
            raise RuntimeError("the server is already started")
        self.folder = Path(tempfile.mkdtemp(prefix="autostart-pg-"))
        try:
            self._init_cluster()
            self._start_on_a_free_port()
        except BaseException:
            self._remove_folder()
            raise

    def stop(self) -> None:
        if self.folder is None:
            return
        try:
            if self.port is not None:
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        finally:
            self.port = None
            self._remove_folder()

    def url(self, dbname: str) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"postgresql://{USER}:{self.password}@{HOST}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create the empty database `name` and return its URL."""
        url = self.url("postgres")
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_SECONDS) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _init_cluster(self) -> None:
        folder = self._started_folder()
        password_file = folder / "password"
        password_file.write_text(self.password + "\n")
        self._give_to_server_user(folder)
        self._give_to_server_user(password_file)
        # The C locale exists everywhere; -N skips the fsync of a throwaway cluster.
        settings = ["-A", "md5", "-E", "UTF8", "--locale=C", "-N"]
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            USER,
            "--pwfile",
            str(password_file),
            *settings,
        )

    def _start_on_a_free_port(self) -> None:
        # Another process may take the port between the probe and the start: try a few.
        data, log = str(self.data_dir), str(self.log_file)
        for attempt in range(1, START_ATTEMPTS + 1):
            port = free_port()
            options = f"-F -p {port} -c listen_addresses={HOST} -k {self._started_folder()}"
            try:
                self._run("pg_ctl", "start", "-D", data, "-l", log, "-w", "-o", options)
            except PostgresServerError:
                if attempt == START_ATTEMPTS:
                    raise
            else:
                self.port = port
                return

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", USER, "--", *command]
        try:
            result = subprocess.run(
                command,
                cwd=self._started_folder(),
                capture_output=True,
                text=True,
                check=False,
                timeout=PROGRAM_SECONDS,
            )
        except subprocess.TimeoutExpired as expired:
            message = f"{' '.join(command)} did not finish in {PROGRAM_SECONDS} s"
            raise PostgresServerError(self._with_log(message)) from expired
        if result.returncode != 0:
            message = f"{' '.join(command)} exited with {result.returncode}\n{result.stderr}"
            raise PostgresServerError(self._with_log(message))

    def _with_log(self, message: str) -> str:
        if self.log_file.exists():
            message += f"\n--- {self.log_file} ---\n{self.log_file.read_text()}"
        return message

    def _give_to_server_user(self, path: Path) -> None:
        if os.geteuid() == 0:
            server_user = pwd.getpwnam(USER)
            os.chown(path, server_user.pw_uid, server_user.pw_gid)

    def _started_folder(self) -> Path:
        if self.folder is None:
            raise RuntimeError("the server is not started")
        return self.folder

    def _remove_folder(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
