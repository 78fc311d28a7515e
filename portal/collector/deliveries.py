"""A delivery the collector accepted, and what its evidence polls saw afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from portal.collector.payload import Delivery


class CollectedDelivery(Aggregate):
    """One delivery, recorded once: its id is the delivery's idempotency key."""

    class Received(Aggregate.Created):
        event: str
        document: str
        change: str
        ts: str
        handler: str | None
        domain: str | None
        user: str | None
        user_token: bool
        fields: dict[str, str]
        polls_due: list[float]
        poll_max_lag_s: float

    class Observed(Aggregate.Event):
        """A poll of the document's running workflow instances, and the ones it saw."""

        poll: int
        delay_s: float
        instances: list[dict[str, str]]

        def apply(self, delivery: CollectedDelivery) -> None:
            delivery.polls += 1

    class PollSkipped(Aggregate.Event):
        """A poll that was not made (the request budget, a portal error, a shutdown), and why."""

        poll: int
        delay_s: float
        reason: str

        def apply(self, delivery: CollectedDelivery) -> None:
            delivery.polls += 1

    @staticmethod
    def create_id(event: str, document: str, ts: str) -> UUID:
        return Delivery(event=event, document=document, change="", ts=ts).key

    def __init__(
        self,
        event: str,
        document: str,
        change: str,
        ts: str,
        handler: str | None,
        domain: str | None,
        user: str | None,
        user_token: bool,
        fields: dict[str, str],
        polls_due: list[float] | None = None,
        poll_max_lag_s: float = 0.0,
    ) -> None:
        self.event = event
        self.document = document
        self.change = change
        self.ts = ts
        self.handler = handler
        self.domain = domain
        self.user = user
        self.user_token = user_token
        self.fields = fields
        # The polls its collector was to make (their delays), so that a reader can tell a poll
        # never made (its collector was killed) from one still to come.
        self.polls_due = polls_due or []
        self.poll_max_lag_s = poll_max_lag_s
        self.polls = 0

    @classmethod
    def receive(
        cls,
        delivery: Delivery,
        at: datetime,
        polls_due: tuple[float, ...] = (),
        poll_max_lag_s: float = 0.0,
    ) -> CollectedDelivery:
        """`polls_due`: the delays of the polls its collector will make (none for a delete)."""
        return cls._create(
            cls.Received,
            event=delivery.event,
            document=delivery.document,
            change=delivery.change,
            ts=delivery.ts,
            handler=delivery.handler,
            domain=delivery.domain,
            user=delivery.user,
            user_token=delivery.user_token,
            fields=dict(delivery.fields),
            polls_due=[] if delivery.change == "delete" else list(polls_due),
            poll_max_lag_s=poll_max_lag_s,
            timestamp=at,
        )

    def observe(
        self, poll: int, delay_s: float, instances: list[dict[str, str]], at: datetime
    ) -> None:
        self.trigger_event(
            self.Observed, poll=poll, delay_s=delay_s, instances=instances, timestamp=at
        )

    def skip_poll(self, poll: int, delay_s: float, reason: str, at: datetime) -> None:
        self.trigger_event(
            self.PollSkipped, poll=poll, delay_s=delay_s, reason=reason, timestamp=at
        )


def observation(event: Any) -> dict[str, Any]:
    """One poll's record as `collect events` prints it."""
    record: dict[str, Any] = {
        "poll": event.poll,
        "delay_s": event.delay_s,
        "at": event.timestamp.isoformat(),
    }
    if isinstance(event, CollectedDelivery.Observed):
        record["instances"] = event.instances
    else:
        record["skipped"] = event.reason
    return record
