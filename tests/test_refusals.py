"""Refusals: the domain names them in its words; the edge says them as line and field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from replaying import at, opened, replay_into

from domain.application import AutostartApplication, Workspace
from domain.errors import (
    ChannelNotAllowed,
    ChannelOff,
    DocumentTypeFixed,
    ElementExists,
    ForeignElement,
    Refusal,
    RepeatedElement,
    TemplateIncomplete,
    TimeGoesBack,
    UnknownElement,
)
from domain.starter import Starter
from simulations.commands import Command
from simulations.replay import apply_command
from simulations.traffic import BadLineError, parse_line

T = at(20)
GOOD: list[dict[str, Any]] = [
    {"op": "portal", "email_integration": False, "telephony": False},
    {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3},
    {"op": "create", "at": at(0), "element": "crm.deal:101", "channel": "ui"},
    {"op": "create", "at": at(1), "element": "crm.deal:102", "channel": "web_form"},
    {"op": "delete", "at": at(2), "element": "crm.deal:102"},
    {"op": "create", "at": at(4), "element": "disk.storage_1:5", "channel": "ui"},
    {"op": "import", "at": at(5), "document_type": "crm.lead", "elements": ["crm.lead:1"]},
]
# One bad line per refusal: the refusal the domain raises, and the whole message the edge writes.
CASES: list[tuple[dict[str, Any], type[Refusal], str]] = [
    (
        {"op": "portal", "at": at(1), "telephony": True},
        TimeGoesBack,
        "field 'at': expected a time at or after 2026-03-02T09:05:00+03:00 (times never "
        'decrease), got 2026-03-02T09:01:00+03:00',
    ),
    (
        {"op": "template", "template": 11, "document_type": "crm.lead"},
        DocumentTypeFixed,
        "field 'document_type': expected 'crm.deal' (a template's document type never "
        'changes), got "crm.lead"',
    ),
    (
        {"op": "template", "template": 50, "document_type": "crm.deal"},
        TemplateIncomplete,
        "field 'auto_execute': expected a value on the first line of a template",
    ),
    (
        {"op": "import", "at": T, "document_type": "crm.lead", "elements": ["crm.deal:7"]},
        ForeignElement,
        "field 'elements[0]': expected an element of the document type 'crm.lead', "
        'got "crm.deal:7"',
    ),
    (
        {"op": "import", "at": T, "document_type": "crm.lead",
         "elements": ["crm.lead:2", "crm.lead:2"]},
        RepeatedElement,
        "field 'elements[1]': expected an element not already in this import, "
        'got "crm.lead:2"',
    ),
    (
        {"op": "import", "at": T, "document_type": "crm.lead", "elements": ["crm.lead:1"]},
        ElementExists,
        "field 'elements[0]': expected an element that never existed (ids are never "
        'reused), got "crm.lead:1"',
    ),
    (
        {"op": "create", "at": T, "element": "crm.deal:102", "channel": "ui"},
        ElementExists,
        "field 'element': expected an element that never existed (ids are never reused), "
        'got "crm.deal:102"',
    ),
    (
        {"op": "delete", "at": T, "element": "crm.deal:102"},
        UnknownElement,
        "field 'element': expected an existing element (crm.deal:102 was deleted), "
        'got "crm.deal:102"',
    ),
    (
        {"op": "update", "at": T, "element": "crm.deal:999", "channel": "ui", "changed": {}},
        UnknownElement,
        "field 'element': expected an existing element (crm.deal:999 does not exist), "
        'got "crm.deal:999"',
    ),
    (
        {"op": "update", "at": T, "element": "disk.storage_1:5", "channel": "import",
         "changed": {}},
        ChannelNotAllowed,
        "field 'channel': expected one of bizproc, rest, sync, ui (for a disk storage_1 on "
        'update), got "import"',
    ),
    (
        {"op": "create", "at": T, "element": "crm.deal:103", "channel": "email"},
        ChannelOff,
        "field 'channel': expected a channel other than email (e-mail integration is off)",
    ),
    (
        {"op": "create", "at": T, "element": "crm.deal:103", "channel": "call"},
        ChannelOff,
        "field 'channel': expected a channel other than call (telephony is off)",
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def store() -> Iterator[AutostartApplication]:
    """The GOOD lines replayed into memory; each test starts a starter over that state."""
    with opened("memory:") as app:
        replay_into(app, GOOD)
        yield app


def command(line: dict[str, Any]) -> Command:
    parsed = parse_line(json.dumps(line), 7)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(("bad", "refusal", "message"), CASES, ids=[c[1].__name__ for c in CASES])
def test_the_domain_refuses_in_its_words_and_the_edge_names_line_and_field(
    store: AutostartApplication, bad: dict[str, Any], refusal: type[Refusal], message: str
) -> None:
    portal = store.portal()
    decided: list[object] = []
    live = Starter(
        portal,
        store.templates(portal),
        store.simulation(),
        Workspace(store),
        on_decision=decided.append,
        on_warning=decided.append,
    )

    with pytest.raises(Refusal) as refused:
        apply_command(live, command(bad))

    assert type(refused.value) is refusal
    assert decided == []
    assert str(BadLineError.refused(7, refused.value)) == f"line 7, {message}"
