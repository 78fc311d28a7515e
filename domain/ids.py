"""Deterministic aggregate ids: one stream per Bitrix object, the same on every replay."""

from __future__ import annotations

from uuid import UUID, uuid5

NAMESPACE = UUID("6f1c1d9e-5b0a-4c55-9a43-0b3f4c2a7e10")


def stream_id(kind: str, key: str | int = "") -> UUID:
    return uuid5(NAMESPACE, f"{kind}/{key}")
