"""The element on its own: its slot guard and its queue, without a starter, a store or a replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.elements import Element, Origin

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def element() -> Element:
    return Element.create("crm.deal:101", AT, Origin(1, 0, "ui", None, {}, None), {})


def queue(deal: Element, *numbers: int) -> None:
    for number in numbers:
        deal.queue_process(
            AT,
            process=f"crm.deal:101#{number}",
            template=10 + number,
            template_version=1,
            duration=60,
            actions=[],
            line=number,
            depth=0,
            sequence=number,
        )


def run(deal: Element, process: str) -> None:
    deal.start_process(
        AT,
        process=process,
        template=1,
        template_version=1,
        from_queue=False,
        ends_at=AT + timedelta(minutes=5),
    )


def test_a_document_has_a_free_slot_until_its_limit_runs() -> None:
    deal = element()
    run(deal, "crm.deal:101#a")

    assert deal.has_free_slot(2)
    run(deal, "crm.deal:101#b")
    assert not deal.has_free_slot(2)


def test_a_limit_of_zero_never_fills() -> None:
    deal = element()
    for name in "abc":
        run(deal, f"crm.deal:101#{name}")

    assert deal.has_free_slot(0)


def test_a_full_document_starts_nothing_from_its_queue_and_records_nothing() -> None:
    deal = element()
    run(deal, "crm.deal:101#a")
    queue(deal, 1)
    pending = len(deal.pending_events)

    started = deal.start_from_queue(AT, 1)

    assert started is None
    assert len(deal.pending_events) == pending
    assert [q["process"] for q in deal.queue] == ["crm.deal:101#1"]


def test_the_queue_starts_first_in_first_out_and_records_the_start() -> None:
    deal = element()
    queue(deal, 1, 2)

    started = deal.start_from_queue(AT, 1)

    assert started is not None
    assert started["process"] == "crm.deal:101#1"
    assert deal.running == {"crm.deal:101#1": AT + timedelta(seconds=60)}
    assert [q["process"] for q in deal.queue] == ["crm.deal:101#2"]
    last = deal.pending_events[-1]
    assert isinstance(last, Element.ProcessStarted)
    assert last.from_queue


def test_the_reversed_queue_fault_takes_the_newest() -> None:
    deal = element()
    queue(deal, 1, 2)

    started = deal.start_from_queue(AT, 1, lifo=True)

    assert started is not None
    assert started["process"] == "crm.deal:101#2"


def test_an_empty_queue_starts_nothing() -> None:
    deal = element()

    assert deal.start_from_queue(AT, 0) is None
