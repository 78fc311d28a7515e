"""An unreachable PostgreSQL store says why at once (password, database, server), no password."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from postgres_server import free_port
from replaying import autostart

pytestmark = pytest.mark.postgres
PASSWORD = "s3cret-Pa55word"


def unreachable(url: str, what: str) -> str:
    parts = urlsplit(url)
    base = f"postgresql://{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}"
    if what == "password":
        return f"{base}{parts.path}"
    if what == "database":
        return url.rsplit("/", 1)[0] + "/no_such_database"
    return url.replace(f":{parts.port}/", f":{free_port()}/")


@pytest.mark.parametrize(
    ("what", "said"),
    [
        ("password", "authentication failed for user postgres"),
        ("database", "no database named no_such_database on 127.0.0.1:"),
        ("server", "no server at 127.0.0.1:"),
    ],
)
@pytest.mark.parametrize("command", ["replay", "why", "check"])
def test_an_unreachable_store_says_which_cause_at_once_without_the_password(
    postgres_url: str, tmp_path: Path, what: str, said: str, command: str
) -> None:
    store = unreachable(postgres_url, what)
    traffic = tmp_path / "t.jsonl"
    traffic.write_text('{"op": "portal", "licence": "paid"}\n')
    args = {"replay": [str(traffic)], "why": ["crm.deal:1"], "check": []}[command]
    started = time.monotonic()

    code, out, err = autostart(command, *args, "--store", store)

    assert code == 2
    assert said in err, err
    assert len(err.strip().splitlines()) == 1
    assert time.monotonic() - started < 4
    for secret in (PASSWORD, urlsplit(postgres_url).password or "?"):
        assert secret not in out + err.removeprefix(f"autostart {command}:")
