"""The collector as a real process: every acknowledged delivery recorded once, bad ones refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from collecting import (
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    TOKEN,
    Collector,
    autostart,
    burst,
    collected,
    delivery,
)

pytestmark = pytest.mark.slow


def keys(records: list[dict[str, object]]) -> Counter[tuple[object, object, object]]:
    return Counter((r["event"], r["document"], r["ts"]) for r in records)


def test_a_delivery_sent_twice_is_recorded_once(tmp_path: Path) -> None:
    store = str(tmp_path / "collector.db")
    with Collector(store, tmp_path) as collector:
        first = collector.post(delivery("ONCRMDEALADD", 7405, 1766047124))
        second = collector.post(delivery("ONCRMDEALADD", 7405, 1766047124))
        later = collector.post(delivery("ONCRMDEALUPDATE", 7405, 1766047190))

    records = collected(store)

    assert first == (200, {"result": "accepted", "document": "crm.deal:7405"})
    assert second == (200, {"result": "duplicate", "document": "crm.deal:7405"})
    assert later[1]["result"] == "accepted"
    assert [(r["event"], r["ts"], r["document"], r["change"]) for r in records] == [
        ("ONCRMDEALADD", "1766047124", "crm.deal:7405", "add"),
        ("ONCRMDEALUPDATE", "1766047190", "crm.deal:7405", "update"),
    ]
    assert records[0]["user_token"] is True
    assert records[0]["observations"] == []


BAD_INPUTS = [
    pytest.param(delivery(token="not-the-token"), None, 401, "application_token", id="wrong-token"),
    pytest.param(delivery(token=None), None, 401, "application_token", id="no-token"),
    pytest.param(b'{"event": "ONCRMDEALADD"}', "application/json", 415, "form", id="json-body"),
    pytest.param(b"\xff\xfe\x00", None, 400, "UTF-8", id="not-text"),
    pytest.param(b"event=ONCRMDEALADD&&ts", None, 400, "form-encoded", id="not-pairs"),
    pytest.param(b"a=" + b"x" * 70_000, None, 413, "bytes", id="huge"),
    pytest.param(delivery("ONCRMTASKADD"), None, 422, "ONCRMTASKADD", id="unknown-event"),
    pytest.param(delivery(item=None), None, 422, "data[FIELDS][ID]", id="no-id"),
    pytest.param(delivery(item="abc"), None, 422, "data[FIELDS][ID]", id="id-not-a-number"),
    pytest.param(delivery(ts="yesterday"), None, 422, "ts", id="bad-ts"),
    pytest.param(
        delivery("ONCRMDYNAMICITEMADD", 5), None, 422, "ENTITY_TYPE_ID", id="smart-process-no-type"
    ),
]


@pytest.mark.parametrize(("body", "content_type", "status", "words"), BAD_INPUTS)
def test_a_bad_delivery_gets_a_clear_4xx_records_nothing_and_the_service_keeps_serving(
    tmp_path: Path, body: bytes, content_type: str | None, status: int, words: str
) -> None:
    store = str(tmp_path / "collector.db")
    with Collector(store, tmp_path) as collector:
        refused = collector.post(body, *([content_type] if content_type else []))
        good = collector.post(delivery("ONCRMLEADADD", 7))
        metrics = collector.get("/metrics")

    assert refused[0] == status
    assert words in refused[1]["error"]
    assert good[0] == 200
    assert [r["document"] for r in collected(store)] == ["crm.lead:7"]
    assert "autostart_collector_events_accepted_total 1\n" in metrics
    rejected = [line for line in metrics.splitlines() if line.endswith(" 1")]
    assert any(line.startswith("autostart_collector_events_rejected_total") for line in rejected)


def test_every_crm_document_kind_is_named_as_the_model_names_it(tmp_path: Path) -> None:
    store = str(tmp_path / "collector.db")
    sent = [
        delivery("ONCRMLEADUPDATE", 7),
        delivery("ONCRMCONTACTDELETE", 8),
        delivery("ONCRMCOMPANYADD", 9),
        delivery("ONCRMDEALMOVETOCATEGORY", 10, CATEGORY_ID="1", STAGE_ID="C1:NEW"),
        delivery("ONCRMDYNAMICITEMADD", 11, ENTITY_TYPE_ID="147"),
        delivery("ONCRMDYNAMICITEMUPDATE", 12, ENTITY_TYPE_ID="31"),
    ]
    with Collector(store, tmp_path) as collector:
        statuses = [collector.post(body)[0] for body in sent]

    records = collected(store)

    assert statuses == [200] * len(sent)
    assert [(r["document"], r["change"]) for r in records] == [
        ("crm.lead:7", "update"),
        ("crm.contact:8", "delete"),
        ("crm.company:9", "add"),
        ("crm.deal:10", "update"),
        ("crm.dynamic_147:11", "add"),
        ("crm.smart_invoice:12", "update"),
    ]
    assert records[3]["fields"] == {"ID": "10", "CATEGORY_ID": "1", "STAGE_ID": "C1:NEW"}


def test_the_tokens_never_reach_the_log_the_metrics_or_the_store(tmp_path: Path) -> None:
    store = tmp_path / "collector.db"
    options = ("--log-format", "json", "--log-deliveries")
    with Collector(str(store), tmp_path, *options) as collector:
        collector.post(delivery(ts=1))
        collector.post(delivery(token=TOKEN[:-1] + "x", ts=2))
        collector.post(delivery("ONCRMFOO", token=TOKEN, ts=3))
        metrics = collector.get("/metrics")
        assert collector.stop() == 0
    log = collector.log()

    printed = autostart("collect", "events", "--store", str(store)).stdout
    seen = {
        "log": log,
        "metrics": metrics,
        "events": printed,
        "store": b"".join(p.read_bytes() for p in tmp_path.glob("collector.db*")).decode("latin-1"),
    }

    for secret in (TOKEN, TOKEN[:-1] + "x", ACCESS_TOKEN, REFRESH_TOKEN):
        for where, text in seen.items():
            assert secret not in text, where
    lines = [json.loads(line) for line in log.splitlines()]
    assert [line["message"] for line in lines] == [
        "listening",
        "accepted",
        "refused",
        "refused",
        "stopped",
    ]


def test_a_collector_killed_mid_burst_lost_no_acknowledged_delivery(tmp_path: Path) -> None:
    store = str(tmp_path / "collector.db")
    bodies = [delivery("ONCRMDEALUPDATE", 1000 + n % 97, 1766047000 + n) for n in range(1500)]
    clients = 16
    collector = Collector(store, tmp_path).start()
    pid = collector.process.pid if collector.process else 0

    def kill_at_400(count: int) -> None:
        if count == 400:
            os.kill(pid, signal.SIGKILL)

    statuses = asyncio.run(burst(collector.url, bodies, clients, kill_at_400))
    assert collector.stop(None) == -signal.SIGKILL
    stored = keys(collected(store))
    acknowledged = [i for i, status in enumerate(statuses) if status == 200]
    unanswered = [i for i, status in enumerate(statuses) if status is None]

    # Every 200 is in the store; at most the requests in flight at the kill are there unanswered.
    assert 400 - clients <= len(acknowledged) < len(bodies)
    assert all(count == 1 for count in stored.values())
    assert len(acknowledged) <= len(stored) <= len(acknowledged) + clients
    assert len(acknowledged) + len(unanswered) == len(bodies)

    # After a restart the portal's repeats are answered; each delivery is then stored once.
    with Collector(store, tmp_path, name="restarted") as restarted:
        again = asyncio.run(burst(restarted.url, [bodies[i] for i in unanswered], clients))
    records = collected(store)

    assert again == [200] * len(unanswered)
    assert len(acknowledged) + len(again) == len(records) == len(bodies)
    assert all(count == 1 for count in keys(records).values())


def test_sigterm_finishes_what_was_acknowledged_and_exits_cleanly(tmp_path: Path) -> None:
    store = str(tmp_path / "collector.db")
    bodies = [delivery("ONCRMLEADADD", n, 1766047000 + n) for n in range(1, 801)]
    collector = Collector(store, tmp_path).start()
    pid = collector.process.pid if collector.process else 0

    def terminate_at_200(count: int) -> None:
        if count == 200:
            os.kill(pid, signal.SIGTERM)

    statuses = asyncio.run(burst(collector.url, bodies, 8, terminate_at_200))
    code = collector.stop(None)
    records = collected(store)

    assert code == 0
    acknowledged = {i + 1 for i, status in enumerate(statuses) if status == 200}
    assert acknowledged <= {int(r["document"].split(":")[1]) for r in records}
    assert len(records) == len(acknowledged)
    assert "stopped" in collector.log()


@pytest.mark.postgres
def test_two_collectors_on_one_postgres_store_record_each_delivery_once(
    tmp_path: Path, postgres_url: str
) -> None:
    bodies = [delivery("ONCRMCONTACTUPDATE", 500 + n % 13, 1766047000 + n) for n in range(400)]
    with (
        Collector(postgres_url, tmp_path, name="one") as one,
        Collector(postgres_url, tmp_path, name="two") as two,
    ):

        async def both() -> tuple[list[int | None], list[int | None]]:
            # Every delivery reaches both collectors at about the same moment.
            first, second = await asyncio.gather(
                burst(one.url, bodies, 8), burst(two.url, bodies[::-1], 8)
            )
            return first, second

        first, second = asyncio.run(both())
        pages = [one.get("/metrics"), two.get("/metrics")]
    records = collected(postgres_url)

    assert first == second == [200] * len(bodies)
    assert len(records) == len(bodies)
    assert all(count == 1 for count in keys(records).values())
    assert sum(counter(page, "events_accepted_total") for page in pages) == len(bodies)
    # The store's address holds its password: it is in neither log nor metrics.
    for text in (one.log(), two.log(), *pages):
        assert postgres_url not in text
        assert postgres_url.split("@", maxsplit=1)[0] not in text
    assert sum(counter(page, "events_duplicate_total") for page in pages) == len(bodies)


def counter(metrics: str, name: str) -> int:
    prefix = f"autostart_collector_{name} "
    return sum(
        int(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix)
    )
