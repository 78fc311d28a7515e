"""A business-process template and its configuration versions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.configs import TemplateConfig, TemplateRecord
from domain.ids import stream_id
from domain.journal import JournaledAggregate


class Template(JournaledAggregate):
    """A template of one document type; each template line makes a new configuration version."""

    class Registered(Aggregate.Created):
        template: int
        config: TemplateRecord

    class Reconfigured(Aggregate.Event):
        changes: list[str]
        config: TemplateRecord

        def apply(self, template: Template) -> None:
            template.config = TemplateConfig.from_dict(self.config)

    @staticmethod
    def create_id(template: int) -> UUID:
        return stream_id("template", template)

    def __init__(self, template: int, config: TemplateRecord) -> None:
        self.template = template
        self.config = TemplateConfig.from_dict(config)

    @classmethod
    def register(cls, config: TemplateConfig, at: datetime) -> Template:
        return cls._create(
            cls.Registered, template=config.template, config=config.as_dict(), timestamp=at
        )

    def reconfigure(self, config: TemplateConfig, changes: list[str], at: datetime) -> None:
        self.trigger_event(
            self.Reconfigured, timestamp=at, changes=changes, config=config.as_dict()
        )
