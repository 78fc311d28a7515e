"""The domain's signatures name their types: each internal record is typed key for key with
what writes it and what reads it, and only the truly free-form values are plain JSON."""

from __future__ import annotations

import ast
import inspect
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.configs import Parameter, TemplateChanges, TemplateConfig, TemplateRecord
from domain.elements import Element, Origin, OriginFields, QueuedProcess
from domain.portal import Portal
from domain.settings import FEATURES, Features, PortalChanges, PortalSettings, SettingsRecord
from domain.simulation import Checkpoint, Simulation
from domain.starter import EPOCH, Starter
from simulations.traffic import FIELDS

DOMAIN = Path(__file__).resolve().parent.parent / "domain"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# The library's own fields of every event, beside the fields an event class declares.
EVENT_OWN = {f.name for f in fields(Element.Event)}


def keys(record: type) -> list[str]:
    return list(record.__annotations__)


def event_fields(event_class: type) -> set[str]:
    return {f.name for f in fields(event_class)} - EVENT_OWN


def _mentions_any(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    return any(
        (isinstance(node, ast.Name) and node.id == "Any")
        or (isinstance(node, ast.Attribute) and node.attr == "Any")
        for node in ast.walk(annotation)
    )


def _signatures(tree: ast.Module) -> list[tuple[int, ast.expr | None]]:
    """Every parameter and return annotation, and every annotated attribute or event field."""
    found: list[tuple[int, ast.expr | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            found += [(a.lineno, a.annotation) for a in every]
            found.append((node.lineno, node.returns))
            # Inside a function only `self.x: T` declares something others see.
            found += [
                (n.lineno, n.annotation)
                for n in ast.walk(node)
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Attribute)
            ]
        elif isinstance(node, ast.ClassDef | ast.Module):
            for statement in node.body:
                if isinstance(statement, ast.AnnAssign):
                    found.append((statement.lineno, statement.annotation))
                    # A type alias's value is a type too.
                    found.append((statement.lineno, statement.value))
    return found


def test_no_signature_in_the_domain_mentions_any() -> None:
    offending = [
        f"{path.name}:{line}"
        for path in sorted(DOMAIN.glob("*.py"))
        for line, annotation in _signatures(ast.parse(path.read_text(encoding="utf-8")))
        if _mentions_any(annotation)
    ]

    assert offending == []


def test_the_settings_record_is_every_setting_in_order() -> None:
    settings = PortalSettings(edition="on_premise", limit_simultaneous_processes=0)

    assert keys(SettingsRecord) == [f.name for f in fields(PortalSettings)]
    assert list(settings.as_dict()) == keys(SettingsRecord)
    assert PortalSettings(**settings.as_dict()) == settings


def test_a_portal_line_is_typed_key_for_key() -> None:
    assert set(keys(PortalChanges)) == set(FIELDS["portal"])
    assert set(keys(Features)) == set(FEATURES)
    assert set(keys(PortalChanges)) - {"features"} == {f.name for f in fields(PortalSettings)} - {
        *FEATURES
    }


def test_a_template_line_and_a_template_record_are_typed_key_for_key() -> None:
    config = TemplateConfig(
        template=31,
        document_type="feed.iblock_1",
        version=2,
        auto_execute=3,
        active=True,
        parameters=({"name": "Comment", "required": True, "default": None},),
        constants=({"name": "Approver", "required": True, "value": "user_1"},),
        duration_s=600,
        actions=({"update": {"NAME": "done"}}, {"create": "crm.lead"}),
        changed_by="admin_1",
        changed_at=AT.isoformat(),
    )

    assert set(keys(TemplateChanges)) == set(FIELDS["template"]) - {"template"}
    assert list(config.as_dict()) == keys(TemplateRecord)
    assert TemplateConfig.from_dict(config.as_dict()) == config
    assert set(keys(Parameter)) == {"name", "required", "default"}


def test_an_origin_and_a_queued_process_are_their_events_fields() -> None:
    origin = Origin(7, 1, "bizproc", None, {"Comment": "x"}, "crm.deal:101#1")

    assert set(keys(OriginFields)) == {f.name for f in fields(Origin)}
    assert origin.payload() == {f.name: getattr(origin, f.name) for f in fields(Origin)}
    assert set(keys(QueuedProcess)) == event_fields(Element.ProcessQueued)


def test_the_checkpoint_is_what_finishing_a_replay_takes() -> None:
    parameters = inspect.signature(Simulation.finish_replay).parameters
    own = {"self", "source", "lines", "at", "digest"}

    assert set(keys(Checkpoint)) == set(parameters) - own
    assert set(keys(Checkpoint)) <= event_fields(Simulation.ReplayFinished)


class _Elements:
    def __init__(self) -> None:
        self.by_name: dict[str, Element] = {}

    def get(self, name: str) -> Element | None:
        return self.by_name.get(name)

    def add(self, element: Element) -> None:
        self.by_name[element.name] = element


def _starter(agenda: list[list[datetime | int | str]]) -> Starter:
    simulation = Simulation.begin(EPOCH)
    simulation.finish_replay(
        source="-",
        lines=1,
        clock=AT,
        last_ids={},
        agenda=agenda,
        queues=[],
        created=2,
        at=AT,
    )
    portal = Portal.open(EPOCH)
    return Starter(portal, [], simulation, _Elements(), on_decision=print, on_warning=print)


def test_a_stored_agenda_carries_on_in_creation_order_and_old_entries_come_first() -> None:
    due = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    agenda: list[list[datetime | int | str]] = [
        [due, 2, "crm.deal:101", "crm.deal:101#2"],
        [due, "crm.deal:102", 1, "crm.deal:102#1"],  # kept before the creation order was
    ]

    starter = _starter(agenda)

    assert starter.checkpoint()["agenda"] == [
        [due, 0, "crm.deal:102", "crm.deal:102#1"],
        [due, 2, "crm.deal:101", "crm.deal:101#2"],
    ]


def test_a_stored_agenda_entry_of_another_shape_is_named() -> None:
    agenda: list[list[datetime | int | str]] = [["tomorrow", 2, "crm.deal:101", "crm.deal:101#2"]]

    with pytest.raises(TypeError, match=r"\[due, sequence, element, process\]"):
        _starter(agenda)
