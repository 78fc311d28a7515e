"""A portal's outbound event delivery: the form-encoded body parsed into one typed delivery.

Bitrix24 posts `event=ONCRMDEALADD&data[FIELDS][ID]=7405&ts=1766047124&auth[...]=...` (every
value a string). The secrets among the `auth[...]` keys (the application token, the OAuth access
and refresh tokens) are checked or counted here and go no further.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus
from uuid import UUID

from domain.ids import stream_id

DEFAULT_MAX_BODY_BYTES = 64 * 1024  # a delivery is a few hundred bytes; refuse what is not one

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 100
# Decoded keys kept, bounded: a sender making up keys cannot grow it.
MAX_KEYS = 256
_KEYS: dict[str, str] = {}
# Bitrix's smart invoices are CRM type 31; every other dynamic type is a smart process.
SMART_INVOICE_TYPE = 31
_ENTITIES = {
    "DEAL": "crm.deal",
    "LEAD": "crm.lead",
    "CONTACT": "crm.contact",
    "COMPANY": "crm.company",
}
_CHANGES = {"ADD": "add", "UPDATE": "update", "DELETE": "delete"}
EVENTS: dict[str, tuple[str | None, str]] = {
    **{
        f"ONCRM{e}{c}": (doc, change)
        for e, doc in _ENTITIES.items()
        for c, change in _CHANGES.items()
    },
    # A deal moved to another pipeline is a change, and sends no ONCRMDEALUPDATE of its own.
    "ONCRMDEALMOVETOCATEGORY": ("crm.deal", "update"),
    **{f"ONCRMDYNAMICITEM{c}": (None, change) for c, change in _CHANGES.items()},
}
_POSITIVE = re.compile(r"^[1-9][0-9]{0,18}$")
_TS = re.compile(r"^[0-9]{1,12}$")


class DeliveryError(Exception):
    """A delivery refused: its HTTP status, a metric label, and a message for the sender."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted delivery: what the portal sent, without its secrets."""

    event: str
    document: str
    change: str
    ts: str
    handler: str | None = None
    domain: str | None = None
    user: str | None = None
    # The portal sends an application OAuth tokens only when a user made the change.
    user_token: bool = False
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> UUID:
        """The idempotency key: a delivery repeated by the portal has the same one."""
        return stream_id("delivery", f"{self.event}/{self.document}/{self.ts}")


def parse_delivery(body: bytes, content_type: str, app_token: bytes) -> Delivery:
    """The delivery in `body`; raises DeliveryError saying what is wrong and its HTTP status."""
    if content_type.split(";", 1)[0].strip().lower() != FORM:
        raise DeliveryError(
            415, "not_form", f"expected an {FORM} body, got {content_type or 'no content type'!r}"
        )
    form = _form(body)
    given = form.get("auth[application_token]", "").encode()
    if not hmac.compare_digest(given, app_token):
        raise DeliveryError(
            401, "token", "auth[application_token] is missing or not this collector's token"
        )
    event = form.get("event", "").upper()
    if event not in EVENTS:
        raise DeliveryError(
            422,
            "unknown_event",
            f"event {form.get('event', '')[:64]!r} is not a CRM add, update or delete event "
            f"this collector records; expected one of {', '.join(sorted(EVENTS))}",
        )
    document_type, change = EVENTS[event]
    item = form.get("data[FIELDS][ID]")
    if item is None or not _POSITIVE.match(item):
        raise DeliveryError(
            422, "no_id", f"data[FIELDS][ID] {_shown(item)}: expected the item's positive id"
        )
    if document_type is None:
        document_type = _dynamic_type(form.get("data[FIELDS][ENTITY_TYPE_ID]"))
    ts = form.get("ts")
    if ts is None or not _TS.match(ts):
        raise DeliveryError(422, "bad_ts", f"ts {_shown(ts)}: expected the send time in seconds")
    return Delivery(
        event=event,
        document=f"{document_type}:{int(item)}",
        change=change,
        ts=ts,
        handler=form.get("event_handler_id"),
        domain=form.get("auth[domain]"),
        user=form.get("auth[user_id]"),
        user_token=bool(form.get("auth[access_token]")),
        fields={
            key.removeprefix("data[FIELDS][").removesuffix("]"): value
            for key, value in form.items()
            if key.startswith("data[FIELDS][") and key.endswith("]")
        },
    )


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = _pairs(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise DeliveryError(400, "malformed", "the body is not UTF-8 text") from None
    except ValueError:
        raise DeliveryError(
            400,
            "malformed",
            f"the body is not form-encoded key=value pairs joined by & (at most {MAX_FIELDS})",
        ) from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise DeliveryError(400, "malformed", f"field {key[:64]!r} is given twice")
        form[key] = value
    return form


def _pairs(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, strict_parsing=True)`, three times as fast on the portal's bodies.

    Every delivery spells the same few keys (`auth%5Bdomain%5D`...): they are decoded once.
    """
    pieces = text.split("&")
    if len(pieces) > MAX_FIELDS:
        raise ValueError(text)
    pairs = []
    for piece in pieces:
        escaped, equals, value = piece.partition("=")
        if not equals or not escaped:
            raise ValueError(piece)
        key = _KEYS.get(escaped)
        if key is None:
            key = unquote_plus(escaped, errors="strict")
            if len(_KEYS) < MAX_KEYS:
                _KEYS[escaped] = key
        if "%" in value or "+" in value:
            value = unquote_plus(value, errors="strict")
        pairs.append((key, value))
    return pairs


def _dynamic_type(entity_type: str | None) -> str:
    if entity_type is None or not _POSITIVE.match(entity_type):
        raise DeliveryError(
            422,
            "no_id",
            f"data[FIELDS][ENTITY_TYPE_ID] {_shown(entity_type)}: expected the smart process's "
            "positive type id",
        )
    number = int(entity_type)
    return "crm.smart_invoice" if number == SMART_INVOICE_TYPE else f"crm.dynamic_{number}"


def _shown(value: str | None) -> str:
    return "is missing" if value is None else f"{value[:64]!r}"
