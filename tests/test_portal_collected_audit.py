"""The audit of a collector's store: its changes replayed in the order and at the times received,
its polls as evidence; alone, or with a snapshot giving the configuration and the earlier history.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from auditing import audit, verdict
from collecting import ACCESS_TOKEN, TOKEN, Collector, CollectorPortal, delivery
from fake_portal import EXAMPLE
from replaying import autostart

pytestmark = pytest.mark.slow


def wait_for(condition: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def by_a_process(body: bytes) -> bytes:
    """The delivery an application's handler gets when a workflow, robot or agent made the
    change: no OAuth tokens."""
    pairs = parse_qsl(body.decode())
    tokens = ("auth[access_token]", "auth[refresh_token]")
    return urlencode([(k, v) for k, v in pairs if k not in tokens]).encode()


def running(workflow: str, template: int, document: str) -> dict[str, str]:
    return {
        "ID": workflow,
        "DOCUMENT_ID": document,
        "TEMPLATE_ID": str(template),
        "STARTED": datetime.now(UTC).isoformat(),
        "STARTED_BY": "7",
    }


@pytest.fixture(scope="module")
def collected_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A collector's store: deliveries received while the test portal answered its polls."""
    folder = tmp_path_factory.mktemp("collected")
    store = folder / "collector.db"
    portal = CollectorPortal()
    env = {"AUTOSTART_WEBHOOK": portal.url}
    options = ("--poll-delays", "0.3,60", "--log-format", "json")
    try:
        with Collector(str(store), folder, *options, env=env) as collector:
            wait_for(lambda: "template list recorded" in collector.log())

            def polled(n: int) -> bool:
                return f"polls_done_total {n}\n" in collector.get("/metrics")

            # Deal 201 is added: template 11's workflow runs on it (13's and 14's are not seen).
            portal.running["DEAL_201"] = [running("c0ffee.20100011", 11, "DEAL_201")]
            assert collector.post(delivery("ONCRMDEALADD", 201, 1785000001))[0] == 200
            wait_for(lambda: polled(1))
            # Deal 201 changed: the on-change template 12 starts, the polls see it.
            portal.running["DEAL_201"].append(running("c0ffee.20100012", 12, "DEAL_201"))
            assert collector.post(delivery("ONCRMDEALUPDATE", 201, 1785000002))[0] == 200
            wait_for(lambda: polled(2))
            # Deal 101 (the snapshot's) and deal 202 (older than both) changed: no workflow.
            assert collector.post(delivery("ONCRMDEALUPDATE", 101, 1785000003))[0] == 200
            assert collector.post(delivery("ONCRMDEALUPDATE", 202, 1785000004))[0] == 200
            # Lead 8 made by a process: the application's handler gets no user's token.
            made = by_a_process(delivery("ONCRMLEADADD", 8, 1785000005))
            assert collector.post(made)[0] == 200
            assert collector.post(delivery("ONCRMDEALDELETE", 203, 1785000006))[0] == 200
            wait_for(lambda: polled(5))
            assert collector.stop() == 0
        yield store, portal.token
    finally:
        portal.close()


def test_a_collectors_store_alone_audits_to_the_verdicts_its_polls_imply(
    collected_store: tuple[Path, str], tmp_path: Path
) -> None:
    store, webhook_token = collected_store
    audit_store = tmp_path / "audit.db"

    summary = audit_collected(store, audit_store, "--set", "template.12.duration=3600")
    code, why, err = autostart("why", "crm.deal:201", "--store", str(audit_store))

    assert summary["portal"].startswith("127.0.0.1:")  # the webhook's host, as the collector saw it
    assert summary["collected"]["deliveries"] == 6
    assert summary["collected"]["polls"] == {"made": 5, "shutdown": 5}
    # A poll saw the add's workflow, and the change's: started, with the poll as evidence.
    added = verdict(summary, "crm.deal:201", 11, "add")
    assert added["verdict"] == "started"
    assert added["evidence"][0]["workflow"] == "c0ffee.20100011"
    assert {r["kind"] for r in added["evidence"][0]["records"]} == {"poll"}
    changed = verdict(summary, "crm.deal:201", 12, "change")
    assert (changed["verdict"], changed["channel"]) == ("started", "ui")
    assert changed["inference"]["signal"] == "collected_delivery"
    assert "which fields changed" in changed["inference"]["detail"]
    # The poll 0.3 s after deal 202's change saw no instance of template 12, which runs an
    # hour: the workflow should have been running, so its absence is an anomaly.
    absent = verdict(summary, "crm.deal:202", 12, "change")
    assert (absent["verdict"], absent["rule"]) == ("anomaly", "evidence_missing")
    assert "poll 1 (+0.3 s)" in absent["note"]
    assert "no instance of template 12, and an instance runs 3600 s (assumed)" in absent["note"]
    # Template 13's duration is unknown: a poll that saw none proves nothing.
    unknown = verdict(summary, "crm.deal:201", 13, "add")
    assert unknown["verdict"] == "expected, unverifiable"
    assert "how long an instance runs is unknown (set template.13.duration)" in unknown["note"]
    # No token to a handler that gets one from people: a process made it.
    inner = verdict(summary, "crm.lead:8", 21, "add")
    assert (inner["verdict"], inner["reason"]) == ("excluded", "CHANNEL_INNER")
    assert inner["inference"]["signal"] == "event_auth_tokens_absent"
    # Deal 202 existed before the collector: placed, its add not judged; a delete decides nothing.
    elements = {(v["element"], v["trigger"]) for v in summary["verdicts"]}
    assert ("crm.deal:202", "add") not in elements
    assert not any(v["element"] == "crm.deal:203" for v in summary["verdicts"])
    assert code == 0, err
    assert "collected: ONCRMDEALUPDATE received" in why
    assert "poll 1 (+0.3 s) at " in why
    assert "saw c0ffee.20100011 of template 11, c0ffee.20100012 of template 12" in why
    assert "poll 2 (+60 s) not made (skipped: shutdown)" in why
    assert (
        "evidence: poll c0ffee.20100012 (bizproc.workflow.instances, the collector's poll)" in why
    )
    for secret in (webhook_token, ACCESS_TOKEN, TOKEN):
        assert secret not in json.dumps(summary) + why
        assert secret.encode() not in audit_store.read_bytes()


def test_a_snapshot_gives_the_configuration_and_history_and_the_collector_the_times(
    collected_store: tuple[Path, str], tmp_path: Path
) -> None:
    store, _ = collected_store
    snapshot = tmp_path / "snapshot"
    shutil.copytree(EXAMPLE, snapshot)
    alone = audit(snapshot, tmp_path / "alone.db")
    audit_store = tmp_path / "both.db"

    both = audit_collected(store, audit_store, "--set", "template.12.duration=3600", snapshot)
    code, why, err = autostart(
        "why", "crm.deal:101", "--store", str(audit_store), "--template", "12"
    )

    # The snapshot's elements keep their verdicts; the collector's come beside them.
    for key in (("crm.lead:5", 21, "add"), ("crm.deal:106", 11, "add")):
        assert verdict(both, *key) == verdict(alone, *key)
    # portal.toml beside the snapshot says template 14 is inactive: the configuration is its.
    inactive = verdict(both, "crm.deal:201", 14, "add")
    assert (inactive["verdict"], inactive["reason"]) == ("excluded", "TEMPLATE_INACTIVE")
    assert verdict(both, "crm.deal:201", 11, "add")["verdict"] == "started"
    # Deal 101's history is the snapshot's: its collected change needs no placing.
    change = verdict(both, "crm.deal:101", 12, "change")
    assert change["verdict"] == "anomaly"
    assert "the snapshot was pulled" not in change["note"]
    assert code == 0, err
    assert "#1 create via ui by user_7 at 2026-03-31T09:00:00+03:00" in why
    assert "changed: STAGE_ID=PREPARATION" in why  # the snapshot's stage move, in March
    assert "#3 update via ui at 2026-" in why
    assert "changed: UNKNOWN_FIELDS=ONCRMDEALUPDATE" in why
    assert "collected: ONCRMDEALUPDATE received" in why
    assert "poll 1 (+0.3 s) at " in why
    assert both["records"] == alone["records"]


def test_an_audit_of_a_store_without_collected_events_is_refused_and_creates_nothing(
    tmp_path: Path,
) -> None:
    audited = tmp_path / "audit.db"
    audit(EXAMPLE, audited)
    before = audited.read_bytes()

    events = autostart("collect", "events", "--store", str(audited))
    audited_again = autostart(
        "portal", "audit", "--collected", str(audited), "--store", str(tmp_path / "x.db")
    )
    neither = autostart("portal", "audit", "--store", str(tmp_path / "y.db"))

    assert events[0] == 2
    assert "holds no collected events (no collector_events table)" in events[2]
    assert audited_again[0] == 2
    assert "--collected SQLite file" in audited_again[2]
    assert neither[0] == 2
    assert "give a snapshot DIR, --collected STORE, or both" in neither[2]
    assert audited.read_bytes() == before
    assert not (tmp_path / "x.db").exists()
    assert not (tmp_path / "y.db").exists()


def audit_collected(store: Path, audit_store: Path, *options: Any) -> dict[str, Any]:
    folder = [str(o) for o in options if isinstance(o, Path)]
    rest = [str(o) for o in options if not isinstance(o, Path)]
    code, out, err = autostart(
        "portal", "audit", *folder, "--collected", str(store), "--store", str(audit_store),
        "--json", *rest,
    )  # fmt: skip
    assert code == 0, err
    summary: dict[str, Any] = json.loads(out)
    return summary
