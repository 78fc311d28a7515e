"""The portal's template list as a collector saw it when it started: an audit's configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Aggregate


class TemplateList(Aggregate):
    """`bizproc.workflow.template.list` as the portal answered a collector at its start."""

    class Listed(Aggregate.Created):
        portal: str
        rows: list[dict[str, Any]]

    def __init__(self, portal: str, rows: list[dict[str, Any]]) -> None:
        self.portal = portal
        self.rows = rows

    @classmethod
    def listed(cls, portal: str, rows: list[dict[str, Any]], at: datetime) -> TemplateList:
        # Each start lists anew: collectors sharing a store each add theirs.
        return cls._create(cls.Listed, id=uuid4(), portal=portal, rows=rows, timestamp=at)
