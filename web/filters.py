"""The lists' filters from a query string: the exports' Filters, unknown values refused by name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from domain.vocabulary import ALL_CHANNELS, Outcome, Reason, is_document_type
from projections.queries import Filters

FILTER_KEYS = (
    "element",
    "document_type",
    "template",
    "channel",
    "outcome",
    "reason",
    "since",
    "until",
)


class BadFilterError(ValueError):
    """A filter value the store can never hold: named with the values it takes."""


def parse_time(text: str, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise BadFilterError(
            f"{name} {text!r}: expected an ISO-8601 time with an offset, "
            "e.g. 2026-03-02T09:15:00+03:00"
        )
    return at


def _known(name: str, value: str, known: list[str]) -> str:
    if value not in known:
        raise BadFilterError(f"{name} {value!r}: expected one of {', '.join(known)}")
    return value


def parse_filters(query: Mapping[str, str]) -> Filters:
    """Empty values mean no filter, as an empty form field does."""
    given = {key: query[key].strip() for key in FILTER_KEYS if query.get(key, "").strip()}
    template = None
    if "template" in given:
        if not given["template"].isdigit():
            raise BadFilterError(f"template {given['template']!r}: expected a template id")
        template = int(given["template"])
    document_type = given.get("document_type")
    if document_type is not None and not is_document_type(document_type):
        raise BadFilterError(
            f"document_type {document_type!r}: expected e.g. crm.deal, crm.dynamic_147, "
            "feed.iblock_22, lists.iblock_22 or disk.storage_1"
        )
    channel, outcome, reason = (given.get(key) for key in ("channel", "outcome", "reason"))
    return Filters(
        element=given.get("element"),
        document_type=document_type,
        template=template,
        channel=None if channel is None else _known("channel", channel, sorted(ALL_CHANNELS)),
        outcome=None if outcome is None else _known("outcome", outcome, [o.value for o in Outcome]),
        reason=None if reason is None else _known("reason", reason, [r.value for r in Reason]),
        since=parse_time(given["since"], "since") if "since" in given else None,
        until=parse_time(given["until"], "until") if "until" in given else None,
    )


def as_of(filters: Filters, at: datetime | None) -> Filters:
    """The filters narrowed to what had happened by `at` (the page's ?at=)."""
    if at is None or (filters.until is not None and filters.until <= at):
        return filters
    return Filters(**{**{k: getattr(filters, k) for k in Filters.__slots__}, "until": at})
