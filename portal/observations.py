"""What a portal showed, as immutable events: each fetched record, and each element's audit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.ids import stream_id


class Observation(Aggregate):
    """One record a portal returned over REST: what was observed, when, from which method."""

    class Observed(Aggregate.Created):
        portal: str
        method: str
        params: dict[str, Any]
        file: str
        page: int
        path: str
        record: dict[str, Any]
        observed_at: str

    @staticmethod
    def create_id(portal: str, method: str, params: dict[str, Any], key: str) -> UUID:
        identity = json.dumps([portal, method, params, key], sort_keys=True)
        return stream_id("observation", identity)

    def __init__(
        self,
        portal: str,
        method: str,
        params: dict[str, Any],
        file: str,
        page: int,
        path: str,
        record: dict[str, Any],
        observed_at: str,
    ) -> None:
        self.portal = portal
        self.method = method
        self.record = record
        self.observed_at = observed_at

    @classmethod
    def observe(
        cls,
        portal: str,
        method: str,
        params: dict[str, Any],
        where: tuple[str, int, str],
        record: dict[str, Any],
        at: datetime,
    ) -> Observation:
        file, page, path = where
        key = str(record.get("ID", record.get("id", f"{file}#{page}:{path}")))
        return cls._create(
            cls.Observed,
            id=cls.create_id(portal, method, params, key),
            portal=portal,
            method=method,
            params=params,
            file=file,
            page=page,
            path=path,
            record=record,
            observed_at=at.isoformat(),
            timestamp=at,
        )


class ElementAudit(Aggregate):
    """What an audit concluded about one element: its verdicts, evidence and inferences."""

    class Audited(Aggregate.Created):
        element: str
        portal: str
        pulled_at: str
        verdicts: list[dict[str, Any]]
        inferences: list[dict[str, Any]]
        unplaced: list[dict[str, Any]]

    @staticmethod
    def create_id(element: str) -> UUID:
        return stream_id("element-audit", element)

    def __init__(
        self,
        element: str,
        portal: str,
        pulled_at: str,
        verdicts: list[dict[str, Any]],
        inferences: list[dict[str, Any]],
        unplaced: list[dict[str, Any]],
    ) -> None:
        self.element = element
        self.portal = portal
        self.pulled_at = pulled_at
        self.verdicts = verdicts
        self.inferences = inferences
        self.unplaced = unplaced

    @classmethod
    def conclude(
        cls,
        element: str,
        portal: str,
        pulled_at: datetime,
        verdicts: list[dict[str, Any]],
        inferences: list[dict[str, Any]],
        unplaced: list[dict[str, Any]],
    ) -> ElementAudit:
        """`unplaced`: workflows on the element that no decision stands beside (robots, ...)."""
        return cls._create(
            cls.Audited,
            id=cls.create_id(element),
            element=element,
            portal=portal,
            pulled_at=pulled_at.isoformat(),
            verdicts=verdicts,
            inferences=inferences,
            unplaced=unplaced,
            timestamp=pulled_at,
        )


class PortalAudit(Aggregate):
    """An audit of a snapshot: its portal, the assumptions it rests on, what it could not place."""

    class Concluded(Aggregate.Created):
        summary: dict[str, Any]

    @staticmethod
    def create_id() -> UUID:
        return stream_id("portal-audit")

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary

    @classmethod
    def conclude(cls, summary: dict[str, Any], at: datetime) -> PortalAudit:
        return cls._create(cls.Concluded, id=cls.create_id(), summary=summary, timestamp=at)
