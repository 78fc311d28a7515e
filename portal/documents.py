"""Bitrix's document ids and types in the SPEC's names: `DEAL_1633` is `crm.deal:1633`."""

from __future__ import annotations

import re
from typing import Any

from portal.targets import CRM_TYPES, FIRST_SMART_PROCESS, type_name

# crm.item.list's entityTypeId for the CRM types; smart processes are their own id (>= 128).
ENTITY_TYPES = {number: name for name, number in CRM_TYPES.items()}
_PREFIXES = {name.upper(): name for name in CRM_TYPES}
_CRM_ID = re.compile(
    r"^(?:(?P<classic>[A-Z_]+?)|DYNAMIC_(?P<dynamic>[1-9][0-9]*))_(?P<id>[1-9][0-9]*)$"
)
_DYNAMIC = re.compile(r"^DYNAMIC_(?P<type>[1-9][0-9]*)$")
_IBLOCK = re.compile(r"^iblock_(?P<id>[1-9][0-9]*)$")
_STORAGE = re.compile(r"^STORAGE_(?P<id>[1-9][0-9]*)$")
FEED_ENTITY = "BizprocDocument"
LISTS_ENTITY = "Bitrix\\Lists\\BizprocDocumentLists"


def crm_type(entity_type_id: int) -> str | None:
    """`crm.deal` for 2, `crm.dynamic_147` for 147; None for a type the SPEC does not name."""
    if entity_type_id in ENTITY_TYPES or entity_type_id >= FIRST_SMART_PROCESS:
        return f"crm.{type_name(entity_type_id)}"
    return None


def document_type(module: Any, entity: Any, value: Any) -> str | None:
    """A template's DOCUMENT_TYPE (a string, or the 3-array) as a SPEC document type.

    None when it is none of the SPEC's (a type of another module, an unknown list class).
    """
    if isinstance(value, list):
        if len(value) != 3:
            return None
        module = value[0] if value[0] is not None else module
        entity = value[1] if value[1] is not None else entity
        value = value[2]
    if not isinstance(value, str):
        return None
    if match := _DYNAMIC.match(value):
        return f"crm.dynamic_{match['type']}"
    if value in _PREFIXES and module in ("crm", None):
        return f"crm.{_PREFIXES[value]}"
    if match := _STORAGE.match(value):
        return f"disk.storage_{match['id']}"
    if match := _IBLOCK.match(value):
        if entity == FEED_ENTITY:
            return f"feed.iblock_{match['id']}"
        if entity == LISTS_ENTITY:
            return f"lists.iblock_{match['id']}"
    return None


def crm_element(document_id: str) -> str | None:
    """`crm.deal:1633` for `DEAL_1633`, `crm.dynamic_147:1` for `DYNAMIC_147_1`; else None.

    Parsed by prefix: splitting on the first `_` would misread `DYNAMIC_147_1` and
    `SMART_INVOICE_3`.
    """
    match = _CRM_ID.match(document_id)
    if not match:
        return None
    if match["dynamic"]:
        return f"crm.dynamic_{match['dynamic']}:{match['id']}"
    entity = _PREFIXES.get(match["classic"])
    return None if entity is None else f"crm.{entity}:{match['id']}"


def element(document_id: str, template_type: str | None) -> str | None:
    """The element a workflow ran on: a CRM id by its prefix, a bare id (lists, Drive) by the
    document type of its template; None when neither tells."""
    found = crm_element(document_id)
    if found is not None:
        return found
    bare = document_id.isdigit() and int(document_id) > 0
    if bare and template_type is not None and not template_type.startswith("crm."):
        return f"{template_type}:{int(document_id)}"
    return None
