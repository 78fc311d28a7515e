"""The SPEC's tables restated for the laws, and what a broken law reports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from projections.database import ReadDatabase

# The SPEC's tables, restated here so that a fault in the domain's own copy is caught.
EXCLUDED_CHANNELS = {
    "system": "CHANNEL_SYSTEM",
    "iblock_api": "CHANNEL_DIRECT_API",
    "robot_conversion": "CHANNEL_ROBOT_CONVERSION",
}
PROCESS_CHANNELS = ("bizproc", "robot")
STAGE_GUARDED = ("crm.deal", "crm.lead")
REST_LICENCES = ("paid", "nfr", "demo")
# On-premise background starts: calls and web forms, and open-line changes (not adds, not mail).
BACKGROUND_CHANNELS = {"add": ("call", "web_form"), "change": ("call", "web_form", "open_line")}
# CRM's legacy REST goes through Bitrix's older starter on these types only.
LEGACY_REST_TYPES = ("crm.lead", "crm.deal", "crm.contact", "crm.company")
LIST_MODULES = ("feed", "lists")
TRIGGER_BITS = {"add": 1, "change": 2}
REFUSED_OPS = {"create_refused": "add", "update_refused": "change"}
TRIGGER_OF_OP = {"create": "add", "update": "change", **REFUSED_OPS}
DOCUMENT_DELETED = "DOCUMENT_DELETED"
NEVER = float("inf")
LAST_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Violation:
    """A law broken: where, which event, what was expected and what happened."""

    law: str
    element: str
    event: str
    expected: str
    happened: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Law = Callable[[ReadDatabase, int], Iterator[Violation]]
