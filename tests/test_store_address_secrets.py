"""A malformed store address is refused with exit 2 and never shows its password."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from domain.stores import redacted

SECRET = "s3cr3t-pw"
MALFORMED = [
    f"postgresql://user:{SECRET}@127.0.0.1",  # no database
    f"postgresql://user:{SECRET}@127.0.0.1:notaport/db",
    f"postgresql://user:{SECRET}@@127.0.0.1:notaport/x",  # an unescaped @ in the password
    f"postgresql://user:{SECRET}:more@[127.0.0.1/db",  # a bracket left open
    f"postgres://:{SECRET}@127.0.0.1/db",  # no user
]


@pytest.mark.parametrize("address", MALFORMED)
@pytest.mark.parametrize("command", [["decisions"], ["check"], ["why", "crm.deal:1"]])
def test_a_malformed_address_is_refused_without_its_password(
    address: str, command: list[str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulations.cli", *command, "--store", address],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--store" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert not list(tmp_path.iterdir())


def test_redacted_keeps_everything_but_the_password() -> None:
    assert (
        redacted("postgresql://me:pw@db.example:5432/x") == "postgresql://me:***@db.example:5432/x"
    )
    assert redacted("postgresql://me@db/x") == "postgresql://me@db/x"
    assert redacted("store.db") == "store.db"
    assert SECRET not in redacted(f"postgresql://u:a@{SECRET}:b@host/db")
