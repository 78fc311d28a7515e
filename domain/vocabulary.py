"""The SPEC's words: document types, modules, channels, triggers, outcomes and reason codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Module(StrEnum):
    CRM = "crm"
    FEED = "feed"
    LISTS = "lists"
    DISK = "disk"


class Trigger(StrEnum):
    ADD = "add"
    CHANGE = "change"


class Outcome(StrEnum):
    STARTED = "started"
    QUEUED = "queued"
    REJECTED = "rejected"
    SKIPPED = "skipped"


class Reason(StrEnum):
    CHANNEL_IMPORT = "CHANNEL_IMPORT"
    CHANNEL_INNER = "CHANNEL_INNER"
    CHANNEL_ROBOT_CONVERSION = "CHANNEL_ROBOT_CONVERSION"
    CHANNEL_SYSTEM = "CHANNEL_SYSTEM"
    CHANNEL_DIRECT_API = "CHANNEL_DIRECT_API"
    TRIGGER_STAGE_CHANGE = "TRIGGER_STAGE_CHANGE"
    NO_CHANGES = "NO_CHANGES"
    REST_LICENCE = "REST_LICENCE"
    FEATURE_DISABLED = "FEATURE_DISABLED"
    CONTAINER_DISABLED = "CONTAINER_DISABLED"
    TEMPLATE_INACTIVE = "TEMPLATE_INACTIVE"
    NOT_ON_ADD = "NOT_ON_ADD"
    NOT_ON_CHANGE = "NOT_ON_CHANGE"
    PARAMETERS_MISMATCH = "PARAMETERS_MISMATCH"
    PARAMETER_REQUIRED = "PARAMETER_REQUIRED"
    CONSTANTS_NOT_TUNED = "CONSTANTS_NOT_TUNED"
    LIMIT_REJECTED = "LIMIT_REJECTED"
    LIMIT_QUEUED = "LIMIT_QUEUED"
    AUTO_ON_ADD = "AUTO_ON_ADD"
    AUTO_ON_CHANGE = "AUTO_ON_CHANGE"


class ProcessStatus(StrEnum):
    """Where an instance stands in the process list."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETED = "completed"
    DROPPED = "dropped"
    TERMINATED = "terminated"


class ProcessEnd(StrEnum):
    """Why a process left the running set or the queue without running to completion."""

    DOCUMENT_DELETED = "DOCUMENT_DELETED"


CRM_CLASSIC = ("lead", "deal", "contact", "company")
CRM_FACTORY = ("quote", "smart_invoice")
STAGELESS_CRM = ("contact", "company")


class Channel(StrEnum):
    """How a change reached an element (the SPEC's channel table)."""

    UI = "ui"
    LEAD_CONVERSION = "lead_conversion"
    RECURRING = "recurring"
    ESHOP_SYNC = "eshop_sync"
    REST_ITEM = "rest_item"
    OPEN_LINE = "open_line"
    EMAIL = "email"
    CALL = "call"
    WEB_FORM = "web_form"
    REST = "rest"
    IMPORT = "import"
    BIZPROC = "bizproc"
    ROBOT = "robot"
    SYSTEM = "system"
    ROBOT_CONVERSION = "robot_conversion"
    TRIGGER_STAGE_CHANGE = "trigger_stage_change"
    FEED = "feed"
    IBLOCK_API = "iblock_api"
    SYNC = "sync"


# Bitrix delays these starts to the background and marks them to ignore the on-premise limit:
# calls and web forms always, open lines only on change (an open-line add starts at once).
BACKGROUND_CHANNELS = {
    Trigger.ADD: frozenset({"call", "web_form"}),
    Trigger.CHANGE: frozenset({"call", "web_form", "open_line"}),
}
# The channel's old name, refused with a message naming the two channels it was split into.
OLD_STAGE_CHANNEL = "robot_stage_change"

# Which channels each module's elements can be changed through, per trigger (a dash in the
# SPEC's table is a channel missing from that trigger's set).
_CRM_BOTH = (
    "ui",
    "lead_conversion",
    "recurring",
    "eshop_sync",
    "rest_item",
    "open_line",
    "email",
    "call",
    "web_form",
    "rest",
    "import",
    "bizproc",
    "robot",
    "system",
)
_LISTS_BOTH = ("ui", "feed", "rest", "bizproc", "iblock_api", "import")
_DISK_BOTH = ("ui", "rest", "sync", "bizproc")

CHANNELS: dict[Module, dict[Trigger, frozenset[str]]] = {
    Module.CRM: {
        Trigger.ADD: frozenset((*_CRM_BOTH, "robot_conversion")),
        Trigger.CHANGE: frozenset((*_CRM_BOTH, "trigger_stage_change")),
    },
    Module.FEED: {Trigger.ADD: frozenset(_LISTS_BOTH), Trigger.CHANGE: frozenset(_LISTS_BOTH)},
    Module.LISTS: {Trigger.ADD: frozenset(_LISTS_BOTH), Trigger.CHANGE: frozenset(_LISTS_BOTH)},
    Module.DISK: {Trigger.ADD: frozenset(_DISK_BOTH), Trigger.CHANGE: frozenset(_DISK_BOTH)},
}

ALL_CHANNELS = frozenset(
    c for by_trigger in CHANNELS.values() for cs in by_trigger.values() for c in cs
)

_DOCUMENT_TYPE = re.compile(
    r"(?:crm\.(?:lead|deal|contact|company|quote|smart_invoice|dynamic_[1-9][0-9]*)"
    r"|(?:feed|lists)\.iblock_[1-9][0-9]*|disk\.storage_[1-9][0-9]*)"
)
_ELEMENT = re.compile(r"(?P<type>[a-z]+\.[a-z_0-9]+):(?P<id>[1-9][0-9]{0,18})")
# The SPEC's integer ranges. A traffic element id leaves 2**62 ids above it for the elements
# processes create, so an id never outgrows a signed 64-bit column (SQLite, PostgreSQL BIGINT);
# the <N> of a type and a template id are Bitrix's 32-bit ids (PostgreSQL INTEGER).
MAX_ELEMENT_ID = 2**62
MAX_STORED_ID = 2**63 - 1
MAX_TYPE_NUMBER = 2**31 - 1
_TYPE_NUMBER = re.compile(r"_([0-9]{1,10})")


@dataclass(frozen=True, slots=True)
class DocumentType:
    """A Bitrix document type such as `crm.deal` or `disk.storage_1`."""

    name: str
    module: Module
    entity: str

    @property
    def has_stages(self) -> bool:
        return not (self.module is Module.CRM and self.entity in STAGELESS_CRM)

    @property
    def has_container(self) -> bool:
        """Feed lists, workgroup lists and Drive storages switch business processes on or off."""
        return self.module is not Module.CRM

    def allows(self, channel: str, trigger: Trigger) -> bool:
        if channel == "trigger_stage_change" and not self.has_stages:
            return False
        return channel in CHANNELS[self.module][trigger]

    def channels(self, trigger: Trigger) -> list[str]:
        return sorted(c for c in CHANNELS[self.module][trigger] if self.allows(c, trigger))


def is_document_type(name: str) -> bool:
    """A SPEC document type, its <N> (if any) from 1 to MAX_TYPE_NUMBER."""
    if not _DOCUMENT_TYPE.fullmatch(name):
        return False
    number = _TYPE_NUMBER.search(name)
    return number is None or int(number[1]) <= MAX_TYPE_NUMBER


@lru_cache(maxsize=4096)
def document_type(name: str) -> DocumentType:
    """The document type named `name`; raises ValueError when it is not one of the SPEC's."""
    if not is_document_type(name):
        raise ValueError(name)
    module, entity = name.split(".", 1)
    return DocumentType(name, Module(module), entity)


@dataclass(frozen=True, slots=True)
class ElementName:
    """`<document type>:<id>`, e.g. `crm.deal:101`."""

    document_type: DocumentType
    id: int

    def __str__(self) -> str:
        return f"{self.document_type.name}:{self.id}"


def element_name(text: str) -> ElementName:
    """Parses `crm.deal:101`; raises ValueError when it is not an element name.

    Ids above MAX_STORED_ID are refused too (traffic stops at MAX_ELEMENT_ID, see traffic).
    """
    match = _ELEMENT.fullmatch(text)
    if not match or int(match["id"]) > MAX_STORED_ID:
        raise ValueError(text)
    return ElementName(document_type(match["type"]), int(match["id"]))
