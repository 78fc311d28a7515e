"""A collector's store, read for an audit: its changes in the order received, each with what its
polls saw, and the template list it recorded at its start.

A delivery says which document was added, updated or deleted, and when (the collector's clock,
to the microsecond, and the portal's `ts`); not which fields changed nor through what channel.
The one channel signal it carries is `event_auth_tokens_absent`: the portal sends an
application's handler no OAuth token when a workflow, robot or agent made the change, so a
handler that has had tokens and gets a delivery without one was told of a process's change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.stores import StoreAddress
from portal.collector.store import LOST_AFTER_S, open_collected
from portal.collector.templates import TemplateList
from portal.snapshot import Record, Request, parse_time

TEMPLATES_FILE = "collector: bizproc.workflow.template.list"


@dataclass(frozen=True, slots=True)
class Poll:
    """One of a change's evidence polls: made (the instances it saw), skipped, lost or pending."""

    poll: int
    delay_s: float
    at: datetime | None
    instances: list[dict[str, str]] | None  # None: not made
    skipped: str | None  # budget, portal_error, queue_full, shutdown, lost; or pending

    def describe(self) -> str:
        head = f"poll {self.poll} (+{self.delay_s:g} s)"
        if self.instances is None:
            why = "still due" if self.skipped == "pending" else f"skipped: {self.skipped}"
            return f"{head} not made ({why})"
        assert self.at is not None
        seen = ", ".join(
            f"{row.get('ID', '?')} of template {row.get('TEMPLATE_ID', '?')}"
            for row in self.instances
        )
        return f"{head} at {self.at.isoformat()} saw {seen or 'no running instance'}"


@dataclass(frozen=True, slots=True)
class Change:
    """One accepted delivery: a document added, updated or deleted."""

    number: int  # its place among the store's deliveries, from 1
    event: str
    document: str
    change: str  # add, update, delete
    ts: str
    received: datetime
    user: str | None
    user_token: bool
    handler: str | None
    domain: str | None
    fields: dict[str, str]
    polls: tuple[Poll, ...]

    @property
    def document_type(self) -> str:
        return self.document.partition(":")[0]

    def as_dict(self) -> dict[str, Any]:
        """What `why` and the audit's store keep of it."""
        return {
            "event": self.event,
            "document": self.document,
            "ts": self.ts,
            "received": self.received.isoformat(),
            "user": self.user,
            "user_token": self.user_token,
            "polls": [p.describe() for p in self.polls],
        }


@dataclass
class Collected:
    store: str  # the store, described without its password
    changes: list[Change] = field(default_factory=list)
    templates: list[Record] | None = None  # the latest list a collector recorded
    templates_at: datetime | None = None
    portal: str | None = None
    latest: datetime | None = None  # the last time anything in the store was recorded

    def handlers_with_tokens(self) -> set[str | None]:
        """The handlers that have had a user's OAuth token: applications' handlers."""
        return {c.handler for c in self.changes if c.user_token}

    def poll_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {"made": 0}
        for change in self.changes:
            for poll in change.polls:
                key = "made" if poll.instances is not None else str(poll.skipped)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "deliveries": len(self.changes),
            "first": self.changes[0].received.isoformat() if self.changes else None,
            "last": self.changes[-1].received.isoformat() if self.changes else None,
            "polls": self.poll_counts(),
            "template_list_at": None
            if self.templates_at is None
            else self.templates_at.isoformat(),
        }


def read_collected(
    store: StoreAddress, *, now: datetime | None = None, lost_after_s: float = LOST_AFTER_S
) -> Collected:
    """Everything a collector recorded into `store`; raises NoCollectedEventsError (creating
    nothing) when it holds no collector's events."""
    app = open_collected(store)
    collected = Collected(store.describe())
    try:
        for number, record in enumerate(
            app.deliveries(lost_after_s=lost_after_s, now=now), start=1
        ):
            collected.changes.append(_change(number, record))
        for event in app.collected_events():
            at = event.timestamp
            collected.latest = at if collected.latest is None else max(collected.latest, at)
            if isinstance(event, TemplateList.Listed):
                collected.templates = _template_records(event.rows)
                collected.templates_at = at
                collected.portal = event.portal or collected.portal
    finally:
        app.close()
    if collected.portal is None:
        collected.portal = next((c.domain for c in collected.changes if c.domain), None)
    return collected


def _change(number: int, record: dict[str, Any]) -> Change:
    polls = []
    for seen in record["observations"]:
        skipped = "pending" if seen.get("pending") else seen.get("skipped")
        at = datetime.fromisoformat(seen["at"]) if seen.get("at") else None
        polls.append(Poll(seen["poll"], seen["delay_s"], at, seen.get("instances"), skipped))
    return Change(
        number=number,
        event=record["event"],
        document=record["document"],
        change=record["change"],
        ts=record["ts"],
        received=datetime.fromisoformat(record["received"]).astimezone(UTC),
        user=record["user"],
        user_token=record["user_token"],
        handler=record.get("handler"),
        domain=record.get("domain"),
        fields=record["fields"],
        polls=tuple(polls),
    )


def _template_records(rows: list[dict[str, Any]]) -> list[Record]:
    request = Request("bizproc.workflow.template.list", {}, TEMPLATES_FILE, 1)
    return [Record(request, 1, f"result[{n}]", row) for n, row in enumerate(rows)]


def instance_started(row: dict[str, str]) -> datetime | None:
    """A polled instance's STARTED, when it is an ISO time."""
    return parse_time(row.get("STARTED"))
