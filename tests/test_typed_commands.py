"""Each traffic op becomes one frozen, typed command at the edge; channels are an enum."""

from __future__ import annotations

import json

import msgspec
import pytest

from domain.vocabulary import ALL_CHANNELS, Channel
from simulations.commands import (
    ChangePortal,
    Command,
    ConfigureContainer,
    ConfigureTemplate,
    CreateElement,
    DeleteElement,
    ImportElements,
    UpdateElement,
)
from simulations.traffic import parse_line

AT = "2026-03-02T09:15:00+03:00"
CHANGED = {"STAGE_ID": "WON"}
LINES = {
    ChangePortal: {"op": "portal", "edition": "cloud", "limit_simultaneous_processes": 2},
    ConfigureContainer: {
        "op": "container", "document_type": "feed.iblock_22", "bizproc_enabled": True
    },
    ConfigureTemplate: {
        "op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3
    },
    CreateElement: {"op": "create", "at": AT, "element": "crm.deal:101", "channel": "web_form"},
    UpdateElement: {
        "op": "update", "at": AT, "element": "crm.deal:101", "channel": "ui", "changed": CHANGED
    },
    ImportElements: {
        "op": "import", "at": AT, "document_type": "crm.lead", "elements": ["crm.lead:1"]
    },
    DeleteElement: {"op": "delete", "at": AT, "element": "crm.deal:101", "actor": "admin_1"},
}  # fmt: skip


@pytest.mark.parametrize("kind", list(LINES), ids=lambda kind: kind.__name__)
def test_each_op_parses_into_its_own_frozen_command(kind: type[Command]) -> None:
    command = parse_line(json.dumps(LINES[kind]), 7)

    assert type(command) is kind
    assert command.line == 7
    with pytest.raises(AttributeError):
        command.line = 8  # type: ignore[misc]


def test_a_command_encodes_back_to_its_op_first() -> None:
    command = parse_line(json.dumps(LINES[DeleteElement]), 3)

    encoded = json.loads(msgspec.json.encode(command))

    assert next(iter(encoded)) == "op"
    assert encoded["op"] == "delete"
    assert encoded["element"] == "crm.deal:101"


def test_a_change_carries_its_channel_as_the_enum() -> None:
    command = parse_line(json.dumps(LINES[CreateElement]), 1)

    assert isinstance(command, CreateElement)
    assert command.channel is Channel.WEB_FORM


def test_the_channel_enum_names_every_channel_of_the_table() -> None:
    assert {channel.value for channel in Channel} == set(ALL_CHANNELS)


def test_a_template_command_keeps_its_config_apart_from_its_id() -> None:
    command = parse_line(json.dumps(LINES[ConfigureTemplate]), 1)

    assert isinstance(command, ConfigureTemplate)
    assert command.template == 11
    assert command.config == {"document_type": "crm.deal", "auto_execute": 3}
