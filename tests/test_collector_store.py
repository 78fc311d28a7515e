"""The collector's store on its own: one record per delivery, and the deliveries read back whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from collecting import TOKEN, delivery

from domain.stores import parse_store
from portal.collector import store as collector_store
from portal.collector.payload import FORM, Delivery, parse_delivery
from portal.collector.store import CollectorApplication

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def parsed(item: int, ts: int) -> Delivery:
    return parse_delivery(delivery("ONCRMDEALUPDATE", item, ts), FORM, TOKEN.encode())


def test_a_repeat_in_the_same_batch_or_a_later_one_is_left_out(tmp_path: Path) -> None:
    app = CollectorApplication(parse_store(str(tmp_path / "c.db")))
    one, two = parsed(101, 1), parsed(102, 2)

    first = app.record([(one, AT), (one, AT), (two, AT)])
    later = app.record([(parsed(103, 3), AT), (two, AT)])

    assert [r is not None for r in first] == [True, False, True]
    assert [r is not None for r in later] == [True, False]
    assert [r["document"] for r in app.deliveries()] == [
        "crm.deal:101",
        "crm.deal:102",
        "crm.deal:103",
    ]


def test_deliveries_past_the_memory_bound_keep_every_observation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = CollectorApplication(parse_store(str(tmp_path / "c.db")))
    saved = [app.record([(parsed(100 + n, n), AT + timedelta(seconds=n))])[0] for n in range(30)]
    # Each delivery's polls land in the log well after later deliveries.
    for n, aggregate in enumerate(saved):
        assert aggregate is not None
        aggregate.observe(1, 2.0, [{"ID": f"w{n}"}], AT + timedelta(seconds=n + 2))
        app.save(aggregate)
        app.record([(parsed(500 + n, 1000 + n), AT + timedelta(seconds=100 + n))])
        aggregate.skip_poll(2, 30.0, "budget", AT + timedelta(seconds=n + 30))
        app.save(aggregate)
    whole = list(app.deliveries())

    monkeypatch.setattr(collector_store, "PENDING", 5)
    bounded = list(app.deliveries())
    since = list(app.deliveries(AT + timedelta(seconds=25)))

    assert bounded == whole
    assert len(whole) == 60
    assert [len(r["observations"]) for r in whole[:30]] == [2] * 30
    assert whole[3]["observations"][0]["instances"] == [{"ID": "w3"}]
    assert whole[3]["observations"][1]["skipped"] == "budget"
    assert [r["document"] for r in since[:5]] == [f"crm.deal:{125 + n}" for n in range(5)]
    assert len(since) == 35
