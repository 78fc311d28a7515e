"""`autostart serve` over HTTP: safe by default, filters as strict as the exports, ?at=, paging."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from browsing import autostart, example_store, serving
from postgres_server import free_port

from domain.stores import parse_store
from portal.collector.service import Settings, collector_app
from portal.collector.store import CollectorApplication
from web.access import Access
from web.app import mount

TOKEN = "w3b-t0ken-7f3a9c2e5b1d"
PASSWORD = "s3cret-pa55-91ab"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_store(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audited")
    assert autostart("portal", "example", str(folder / "snapshot")).returncode == 0
    done = autostart("portal", "audit", str(folder / "snapshot"), "--store", str(folder / "a.db"))
    assert done.returncode == 0, done.stderr
    return folder / "a.db"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_serve_refuses_another_interface_without_a_token_or_a_user(store: Path) -> None:
    done = autostart("serve", "--store", str(store), "--listen", f"0.0.0.0:{free_port()}")

    assert done.returncode == 2
    assert "needs a token" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_serve_refuses_a_store_that_does_not_exist(tmp_path: Path) -> None:
    done = autostart("serve", "--store", str(tmp_path / "none.db"))

    assert done.returncode == 2
    assert "no store there" in done.stderr


def test_a_token_opens_another_interface_and_only_its_holder_reads(
    store: Path, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()

    with serving(store, "--listen", f"0.0.0.0:{port}", "--token-file", str(token_file)) as server:
        url = f"http://127.0.0.1:{port}"
        refused, refused_page = get(url + "/")
        wrong, _ = get(url + "/", {"Authorization": "Bearer not-the-token"})
        in_the_query, _ = get(url + f"/?token={TOKEN}")  # it would reach links and logs
        allowed, page = get(url + "/", {"Authorization": f"Bearer {TOKEN}"})

    decisions = autostart("decisions", "--store", str(store)).stdout.count("\n")
    assert (refused, wrong, in_the_query, allowed) == (401, 401, 401, 200)
    assert f"Decisions: {decisions}" in page
    for text in (page, refused_page, server.stderr):
        assert TOKEN not in text


def test_basic_auth_lets_the_user_in_and_keeps_the_password_out_of_every_output(
    store: Path,
) -> None:
    good = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    bad = base64.b64encode(b"admin:guess").decode()

    with serving(store, "--user", "admin", env={"AUTOSTART_WEB_PASSWORD": PASSWORD}) as server:
        refused, _ = get(server.url + "/elements/crm.deal:101", {"Authorization": f"Basic {bad}"})
        allowed, page = get(
            server.url + "/elements/crm.deal:101", {"Authorization": f"Basic {good}"}
        )

    assert (refused, allowed) == (401, 200)
    assert PASSWORD not in page
    assert PASSWORD not in server.stderr


def test_a_user_without_a_password_is_bad_input(store: Path) -> None:
    done = autostart("serve", "--store", str(store), "--user", "admin")

    assert done.returncode == 2
    assert "AUTOSTART_WEB_PASSWORD" in done.stderr


def test_every_page_answers_as_of_a_time(store: Path) -> None:
    at = "2026-03-02T09:15:00+03:00"
    query = "?at=" + urllib.parse.quote(at)
    why = autostart("why", "crm.deal:101", "--store", str(store), "--json")
    why_then = autostart("why", "crm.deal:101", "--store", str(store), "--json", "--at", at)
    changes, changes_then = (len(json.loads(w.stdout)["changes"]) for w in (why, why_then))
    decided = autostart("decisions", "--store", str(store), "--until", at).stdout.splitlines()

    with serving(store) as server:
        _, now = get(server.url + "/elements/crm.deal:101")
        _, then = get(server.url + "/elements/crm.deal:101" + query)
        _, home_then = get(server.url + "/" + query)
        _, decisions_then = get(server.url + "/decisions" + query + "&size=500")

    assert changes_then < changes
    assert f"{changes} changes" in now
    assert f"{changes_then} changes" in then
    assert f'id="change-{changes_then + 1}"' not in then
    assert f'id="change-{changes_then + 1}"' in now
    assert f"Decisions: {len(decided)}" in home_then
    assert decisions_then.count('<td><a href="/elements/') == len(decided) > 0
    assert all(json.loads(line)["at"] <= at for line in decided)  # same day, same offset


def test_an_unknown_filter_value_is_refused_naming_the_known_ones(store: Path) -> None:
    with serving(store) as server:
        outcome, outcome_page = get(server.url + "/decisions?outcome=begun")
        reason, reason_page = get(server.url + "/decisions.csv?reason=CHANNEL_FAX")
        time, time_page = get(server.url + "/decisions?since=yesterday")

    assert (outcome, reason, time) == (400, 400, 400)
    assert (
        "outcome &#39;begun&#39;: expected one of started, queued, rejected, skipped"
        in outcome_page
    )
    assert "CHANNEL_IMPORT" in reason_page
    assert "ISO-8601" in time_page


def test_pages_of_decisions_together_are_the_export(store: Path) -> None:
    exported = autostart("decisions", "--store", str(store), "--channel", "ui")
    expected = [json.loads(line)["element"] for line in exported.stdout.splitlines()]
    seen: list[str] = []

    with serving(store) as server:
        path = "/decisions?channel=ui&size=3"
        pages = 0
        while path:
            status, page = get(server.url + path)
            assert status == 200
            seen += [
                line.split(">")[1].split("<")[0] for line in page.split('<a href="/elements/')[1:]
            ]
            pages += 1
            marker = 'id="next-page" href="'
            path = (
                page.split(marker)[1].split('"')[0].replace("&amp;", "&") if marker in page else ""
            )

    assert seen == expected
    assert pages == -(-len(expected) // 3)


def test_an_unknown_element_suggests_the_nearest_ones(store: Path) -> None:
    with serving(store) as server:
        status, page = get(server.url + "/search?element=crm.deal:104")
        found, _ = get(server.url + "/search?element=crm.deal:102")

    assert status == 404
    assert "No element crm.deal:104" in page
    assert "crm.deal:103" in page
    assert found == 200  # redirected to the element's page


def test_an_audited_store_shows_verdicts_anomalies_first_and_the_evidence(audited: Path) -> None:
    with serving(audited) as server:
        _, home = get(server.url + "/")
        _, verdicts = get(server.url + "/verdicts")
        _, anomalies = get(server.url + "/verdicts?verdict=anomaly")
        _, lead = get(server.url + "/elements/crm.lead:5")
        bad, _ = get(server.url + "/verdicts?verdict=maybe")
        bad_channel, channel_page = get(server.url + "/verdicts?channel=fax")

    assert "2 anomaly" in home
    assert "crm.deal:106" in home
    rows = verdicts.split("<tr>")[2:]
    assert len(rows) == 31
    assert all("anomaly" in row for row in rows[:2])
    assert not any('class="anomaly"' in row for row in rows[2:])
    assert anomalies.count("<tr>") == 3
    assert "inferred channel <b>import</b> from stage_history_vs_date_create" in lead
    assert "evidence: instance 69ca1f22b7c8d9.00500021" in lead
    assert (bad, bad_channel) == (400, 400)
    assert "channel &#39;fax&#39;: expected one of" in channel_page


def test_the_pages_mount_in_the_collectors_application(store: Path, tmp_path: Path) -> None:
    collector_store = CollectorApplication(parse_store(str(tmp_path / "collector.db")))
    service = collector_app(
        collector_store, Settings(app_token=b"app-token"), logging.getLogger("test-web")
    )
    mount(service, parse_store(str(store)), Access(), "/view")
    port = free_port()

    async def read() -> tuple[int, str, int]:
        runner = web.AppRunner(service)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/view/templates/11") as page:
                    text = await page.text()
                    status = page.status
                async with session.get(f"http://127.0.0.1:{port}/health") as health:
                    return status, text, health.status
        finally:
            await runner.cleanup()

    status, page, health = asyncio.run(read())

    assert (status, health) == (200, 200)
    assert 'href="/view/elements/crm.deal:101"' in page


def test_the_parquet_download_holds_the_rows_the_export_writes(store: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq  # noqa: PLC0415 - only this test reads Parquet

    with serving(store) as server:
        request = urllib.request.Request(server.url + "/decisions.parquet?reason=CHANNEL_IMPORT")
        with urllib.request.urlopen(request, timeout=30) as response:
            (tmp_path / "web.parquet").write_bytes(response.read())
    exported = autostart(
        "decisions",
        "--store",
        str(store),
        "--format",
        "parquet",
        "--reason",
        "CHANNEL_IMPORT",
        "--out",
        str(tmp_path / "cli.parquet"),
    )

    assert exported.returncode == 0
    shown = pq.read_table(tmp_path / "web.parquet").to_pylist()
    assert shown == pq.read_table(tmp_path / "cli.parquet").to_pylist()
    assert [row["element"] for row in shown] == ["crm.lead:5", "crm.lead:6"]


def test_the_search_keeps_the_time_it_answers_as_of(store: Path) -> None:
    with serving(store) as server:
        _, page = get(
            server.url + "/search?element=crm.deal:101&at=2026-03-02T09%3A15%3A00%2B03%3A00"
        )

    assert "As of 2026-03-02T09:15:00+03:00" in page
    assert "2 changes" in page


def test_the_element_page_suggests_the_fixes_why_suggests(store: Path) -> None:
    why = autostart("why", "crm.deal:101", "--store", str(store), "--template", "12").stdout
    suggested = [line.strip() for line in why.splitlines() if "would start with fix #" in line]

    with serving(store) as server:
        _, page = get(server.url + "/elements/crm.deal:101?template=12")

    assert suggested
    for line in suggested:
        assert html.escape(line, quote=False) in page
