"""What the templates of a portal start on, read from their `DOCUMENT_TYPE`s; CRM type names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CRM_TYPES = {"lead": 1, "deal": 2, "contact": 3, "company": 4, "quote": 7, "smart_invoice": 31}
_CRM_DOCUMENT_TYPES = {name.upper(): number for name, number in CRM_TYPES.items()}
FIRST_SMART_PROCESS = 128


def type_name(entity_type_id: int) -> str:
    for name, number in CRM_TYPES.items():
        if number == entity_type_id:
            return name
    return f"dynamic_{entity_type_id}"


def parse_types(text: str) -> tuple[int, ...]:
    """`deal,lead,dynamic_147` as entity type ids, in order; a ValueError names a bad one."""
    found: list[int] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        number = CRM_TYPES.get(name)
        if number is None and name.startswith("dynamic_") and name[8:].isdigit():
            number = int(name[8:])
        if number is None:
            raise ValueError(
                f"unknown CRM type {raw.strip()!r}: expected {', '.join(CRM_TYPES)} or dynamic_N"
            )
        if number not in found:
            found.append(number)
    return tuple(found)


@dataclass(frozen=True)
class Targets:
    """What the templates start on: CRM entity types, list iblocks, Drive storages."""

    crm: frozenset[int] = frozenset()
    iblocks: frozenset[int] = frozenset()
    storages: frozenset[int] = frozenset()


def targets_of(templates: Iterable[Mapping[str, Any]]) -> Targets:
    """Reads each template's `DOCUMENT_TYPE`: a string, or `[MODULE, ENTITY, TYPE]` with nulls."""
    crm: set[int] = set()
    iblocks: set[int] = set()
    storages: set[int] = set()
    for row in templates:
        module, kind = row.get("MODULE_ID"), row.get("DOCUMENT_TYPE")
        if isinstance(kind, list) and len(kind) == 3:
            module, kind = kind[0] or module, kind[2]
        if not isinstance(kind, str):
            continue
        upper = kind.upper()
        if upper.startswith("IBLOCK_") and upper[7:].isdigit() and module in {None, "lists"}:
            iblocks.add(int(upper[7:]))
        elif upper.startswith("STORAGE_") and upper[8:].isdigit() and module in {None, "disk"}:
            storages.add(int(upper[8:]))
        elif module in {None, "crm"}:
            if upper in _CRM_DOCUMENT_TYPES:
                crm.add(_CRM_DOCUMENT_TYPES[upper])
            elif upper.startswith("DYNAMIC_") and upper[8:].isdigit():
                crm.add(int(upper[8:]))
    return Targets(frozenset(crm), frozenset(iblocks), frozenset(storages))


def has_stages(entity_type_id: int) -> bool:
    return entity_type_id in {1, 2, 31} or entity_type_id >= FIRST_SMART_PROCESS


def records(page: Mapping[str, Any]) -> list[Any]:
    """A page's rows: `result` as a list, or `result.items`."""
    result = page.get("result")
    if isinstance(result, Mapping):
        result = result.get("items")
    return list(result) if isinstance(result, list) else []


def as_int(value: Any) -> int | None:
    """A number as a portal gives it, an int or a numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    return None
