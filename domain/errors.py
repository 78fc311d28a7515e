"""The named refusals: a command the model cannot accept records no event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.vocabulary import DocumentType, Trigger


class Refusal(Exception):  # noqa: N818 - the family is named in domain words, not "Error"
    """A command the model refuses, in the model's words; the edge says which line and field."""


@dataclass(eq=False)
class TimeGoesBack(Refusal):
    """A command dated before the clock: times never decrease."""

    clock: datetime
    at: datetime


@dataclass(eq=False)
class DocumentTypeFixed(Refusal):
    """A template's new version names another document type than its first."""

    document_type: str
    given: object


@dataclass(eq=False)
class TemplateIncomplete(Refusal):
    """A template's first version lacks a value it cannot do without."""

    missing: str


@dataclass(eq=False)
class ForeignElement(Refusal):
    """An import lists an element of another document type (`position` in the import)."""

    name: str
    document_type: str
    position: int


@dataclass(eq=False)
class RepeatedElement(Refusal):
    """An import lists the same element twice (`position` of the second)."""

    name: str
    position: int


@dataclass(eq=False)
class ElementExists(Refusal):
    """An add of an element whose id was used: ids are never reused.

    `position` is the element's place in an import, None for a single create.
    """

    name: str
    position: int | None


@dataclass(eq=False)
class UnknownElement(Refusal):
    """A change or delete of an element the portal does not hold; `state` says why."""

    name: str
    state: str


@dataclass(eq=False)
class ChannelNotAllowed(Refusal):
    """A channel by which this document type is never added or changed."""

    channel: str
    document_type: DocumentType
    trigger: Trigger


@dataclass(eq=False)
class ChannelOff(Refusal):
    """A channel whose integration is off in the portal's settings (`setting` names it)."""

    channel: str
    setting: str
