"""The portal: its settings, its lists and storages, and the templates it has."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.ids import stream_id
from domain.journal import JournaledAggregate
from domain.settings import PortalChanges, PortalSettings, SettingsRecord


class Portal(JournaledAggregate):
    """The one portal a store models: settings as they stand now, containers, template ids."""

    class Opened(Aggregate.Created):
        pass

    class SettingsChanged(Aggregate.Event):
        changes: PortalChanges
        settings: SettingsRecord
        actor: str | None
        line: int

        def apply(self, portal: Portal) -> None:
            portal.settings = PortalSettings(**self.settings)

    class ContainerConfigured(Aggregate.Event):
        document_type: str
        bizproc_enabled: bool
        actor: str | None
        line: int

        def apply(self, portal: Portal) -> None:
            portal.containers[self.document_type] = self.bizproc_enabled

    class TemplateAdded(Aggregate.Event):
        template: int
        document_type: str

        def apply(self, portal: Portal) -> None:
            portal.templates.setdefault(self.document_type, []).append(self.template)
            portal.templates[self.document_type].sort()

    @staticmethod
    def create_id() -> UUID:
        return stream_id("portal")

    def __init__(self) -> None:
        self.settings = PortalSettings()
        self.containers: dict[str, bool] = {}
        self.templates: dict[str, list[int]] = {}

    @classmethod
    def open(cls, at: datetime) -> Portal:
        return cls._create(cls.Opened, timestamp=at)

    def change_settings(
        self, changes: PortalChanges, at: datetime, actor: str | None, line: int
    ) -> None:
        settings = self.settings.changed(changes).as_dict()
        self.trigger_event(
            self.SettingsChanged,
            timestamp=at,
            changes=changes,
            settings=settings,
            actor=actor,
            line=line,
        )

    def configure_container(
        self, document_type: str, enabled: bool, at: datetime, actor: str | None, line: int
    ) -> None:
        self.trigger_event(
            self.ContainerConfigured,
            timestamp=at,
            document_type=document_type,
            bizproc_enabled=enabled,
            actor=actor,
            line=line,
        )

    def add_template(self, template: int, document_type: str, at: datetime) -> None:
        self.trigger_event(
            self.TemplateAdded, timestamp=at, template=template, document_type=document_type
        )

    def container_enabled(self, document_type: str) -> bool:
        """A list or storage never declared has business processes enabled."""
        return self.containers.get(document_type, True)
