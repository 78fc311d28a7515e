"""The collector's evidence polls and the portal's handlers, against a fake portal on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from collecting import Collector, CollectorPortal, autostart, collected, delivery

from portal.collector.payload import EVENTS
from simulations.cli import main

RUNNING = {
    "ID": "658c4d3d6a2906.51542462",
    "DOCUMENT_ID": "DEAL_101",
    "TEMPLATE_ID": "212",
    "STARTED": "2026-03-02T09:00:01+03:00",
    "STARTED_BY": "57",
}


@pytest.fixture
def portal() -> Iterator[CollectorPortal]:
    served = CollectorPortal(running={"DEAL_101": [RUNNING]})
    yield served
    served.close()


def wait_for(condition: object, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_each_change_is_polled_and_what_the_polls_saw_is_recorded(
    tmp_path: Path, portal: CollectorPortal
) -> None:
    store = tmp_path / "collector.db"
    env = {"AUTOSTART_WEBHOOK": portal.url}
    options = ("--poll-delays", "0.2,60", "--log-format", "json")
    with Collector(str(store), tmp_path, *options, env=env) as collector:
        collector.post(delivery("ONCRMDEALADD", 101, 1))
        collector.post(delivery("ONCRMLEADADD", 7, 2))
        collector.post(delivery("ONCRMDEALDELETE", 102, 3))
        wait_for(lambda: "polls_done_total 2\n" in collector.get("/metrics"))
        metrics = collector.get("/metrics")
        assert collector.stop() == 0
    printed = collected(str(store))
    records = {r["document"]: r for r in printed}

    # The first polls were made; the 60 s ones were still due at shutdown: recorded as skipped.
    deal, lead = records["crm.deal:101"]["observations"], records["crm.lead:7"]["observations"]
    assert [(o["poll"], o.get("instances"), o.get("skipped")) for o in deal] == [
        (1, [{k: RUNNING[k] for k in ("ID", "TEMPLATE_ID", "STARTED", "STARTED_BY")}], None),
        (2, None, "shutdown"),
    ]
    assert [(o["poll"], o.get("instances"), o.get("skipped")) for o in lead] == [
        (1, [], None),
        (2, None, "shutdown"),
    ]
    assert records["crm.deal:102"]["observations"] == []
    asked = [params for method, params in portal.asked if method == "batch"]
    commands = sorted(command for params in asked for command in params["cmd"].values())
    assert len(commands) == 2
    assert all(c.startswith("bizproc.workflow.instances?") for c in commands)
    assert any("DEAL_101" in c for c in commands)
    assert any("LEAD_7" in c for c in commands)
    secrets = (portal.token, portal.url)
    store_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("collector.db*"))
    for secret in secrets:
        assert secret not in collector.log()
        assert secret not in metrics
        assert secret not in json.dumps(printed)
        assert secret.encode() not in store_bytes


@pytest.mark.slow
def test_a_slow_portal_makes_late_polls_skipped_never_a_slow_receiver(tmp_path: Path) -> None:
    portal = CollectorPortal(delay_s=1.0)
    store = str(tmp_path / "collector.db")
    options = ("--poll-delays", "0.1", "--poll-max-lag", "0.5")
    try:
        with Collector(store, tmp_path, *options, env={"AUTOSTART_WEBHOOK": portal.url}) as c:
            started = time.monotonic()
            answers = [c.post(delivery("ONCRMDEALUPDATE", 101 + n, n))[0] for n in range(120)]
            posting = time.monotonic() - started
            wait_for(lambda: 'polls_skipped_total{reason="budget"} 0' not in c.get("/metrics"))
            assert c.stop() == 0
    finally:
        portal.close()
    observations = [o for r in collected(store) for o in r["observations"]]

    assert answers == [200] * 120
    assert posting < 10.0
    skipped = [o for o in observations if o.get("skipped") == "budget"]
    made = [o for o in observations if "instances" in o]
    assert skipped
    assert made
    # Every poll is on record: made, skipped as too late, or (still out at the stop) skipped.
    assert len(observations) == 120
    stopped = c.log().splitlines()[-1]
    assert f"polls_done={len(made)} polls_skipped={120 - len(made)}" in stopped


@pytest.mark.slow
def test_the_polls_a_killed_collector_never_made_are_reported_lost(
    tmp_path: Path, portal: CollectorPortal
) -> None:
    store = str(tmp_path / "collector.db")
    options = ("--poll-delays", "0.2,5", "--poll-max-lag", "0.5")
    with Collector(store, tmp_path, *options, env={"AUTOSTART_WEBHOOK": portal.url}) as c:
        for n in range(3):
            assert c.post(delivery("ONCRMDEALUPDATE", 101 + n, n))[0] == 200
        wait_for(lambda: "polls_done_total 3\n" in c.get("/metrics"))
        c.stop(signal.SIGKILL)  # before the second polls were due

    pending = collected(store)
    time.sleep(6.0)  # the second polls' due time and lag have passed
    result = autostart("collect", "events", "--store", store, "--lost-after", "0")
    lost = [json.loads(line) for line in result.stdout.splitlines()]

    assert [[o.get("pending") for o in r["observations"]] for r in pending] == [[None, True]] * 3
    assert result.returncode == 0, result.stderr
    assert [[o.get("skipped") for o in r["observations"]] for r in lost] == [[None, "lost"]] * 3
    assert all(r["observations"][1]["at"] is None for r in lost)


def test_bind_status_and_unbind_manage_the_collectors_handlers(
    portal: CollectorPortal, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = "https://collector.example.com/bitrix/events"

    bound = main(["collect", "bind", "--webhook", portal.url, "--handler", handler])
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    again = main(["collect", "bind", "--webhook", portal.url, "--handler", handler])
    second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    listed = main(["collect", "status", "--webhook", portal.url, "--json"])
    status = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    table = main(["collect", "status", "--webhook", portal.url])
    table_out = capsys.readouterr().out
    unbound = main(["collect", "unbind", "--webhook", portal.url, "--handler", handler])
    removed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert (bound, again, listed, table, unbound) == (0, 0, 0, 0, 0)
    assert sorted(row["event"] for row in first) == sorted(EVENTS)
    assert {row["result"] for row in first} == {"bound"}
    assert {row["result"] for row in second} == {"already bound"}
    assert {(row["event"], row["handler"], row["recorded"]) for row in status} == {
        (event, handler, "yes") for event in EVENTS
    }
    assert table_out.splitlines()[0].split() == [
        "event",
        "handler",
        "auth_type",
        "offline",
        "recorded",
    ]
    assert len(removed) == len(EVENTS)
    assert portal.bound == []
    assert portal.token not in table_out


def test_a_bad_webhook_or_handler_is_refused_without_showing_the_token(
    portal: CollectorPortal, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = portal.url.replace(portal.token, "Wr0ngT0kenZZ")

    refused = main(["collect", "status", "--webhook", wrong])
    refused_err = capsys.readouterr().err
    bad_handler = main(["collect", "bind", "--webhook", portal.url, "--handler", "ftp://x"])
    handler_err = capsys.readouterr().err
    not_webhook = main(["collect", "status", "--webhook", "https://portal.example.com/"])
    webhook_err = capsys.readouterr().err

    assert (refused, bad_handler, not_webhook) == (2, 2, 2)
    assert "Wr0ngT0kenZZ" not in refused_err
    assert "token" in refused_err
    assert "--handler 'ftp://x'" in handler_err
    assert "inbound webhook" in webhook_err
    assert portal.token not in refused_err + handler_err + webhook_err
