"""The portal's own evidence of workflow starts: running instances, tasks and CRM activities.

A start is one workflow (its id) on one element by one template, with every record that
shows it. What each source can prove, and for how long, follows the REST notes
(`audit_signals`): instances only while they run; tasks of finished workflows for a day on
cloud (about a year on-premise); CRM_BIZPROC_* activities durably, but only for templates the
timeline shows (on-add templates with a task by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from portal import BIZPROC_PROVIDERS, documents
from portal.contents import Contents
from portal.derive import TemplateInfo

TASK_RETENTION = {"cloud": timedelta(days=1), "on_premise": timedelta(days=365)}


@dataclass
class Start:
    """One workflow the portal shows, with the records that show it."""

    workflow: str
    element: str | None
    template: int | None
    started: datetime | None
    user: int | None
    records: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "element": self.element,
            "template": self.template,
            "started": None if self.started is None else self.started.isoformat(),
            "user": self.user,
            "records": self.records,
        }


def starts(contents: Contents, templates: dict[int, TemplateInfo]) -> list[Start]:
    """Every workflow the snapshot shows, joined across instances, tasks and activities."""
    found: dict[str, Start] = {}

    def start(workflow: str, template: int | None) -> Start:
        if workflow not in found:
            found[workflow] = Start(workflow, None, template, None, None)
        entry = found[workflow]
        if entry.template is None:
            entry.template = template
        return entry

    def where(document_id: str, template: int | None) -> str | None:
        info = templates.get(template) if template is not None else None
        return documents.element(document_id, info.document_type if info else None)

    for instance in contents.instances:
        entry = start(instance.id, instance.template)
        entry.element = entry.element or where(instance.document_id, instance.template)
        entry.started = entry.started or instance.started
        entry.user = instance.started_by if entry.user is None else entry.user
        entry.records.append(
            {
                "kind": "instance",
                "id": instance.id,
                "method": "bizproc.workflow.instances",
                "detail": f"running, started {_when(instance.started)} "
                f"by {_who(instance.started_by)}",
            }
        )
    for task in contents.tasks:
        entry = start(task.workflow, task.template)
        entry.element = entry.element or where(task.document_id, task.template)
        entry.started = entry.started or task.started
        entry.user = task.started_by if entry.user is None else entry.user
        entry.records.append(
            {
                "kind": "task",
                "id": str(task.id),
                "method": "bizproc.task.list",
                "detail": f"{task.activity or 'task'}, status "
                f"{'unknown' if task.status is None else task.status}",
            }
        )
    for activity in contents.activities:
        if activity.provider not in BIZPROC_PROVIDERS:
            continue
        workflow = activity.workflow or f"activity {activity.id}"
        entry = start(workflow, activity.template)
        crm_type = documents.crm_type(activity.owner_type)
        if entry.element is None and crm_type is not None:
            entry.element = f"{crm_type}:{activity.owner}"
        if entry.started is None:
            entry.started = activity.created
        entry.records.append(
            {
                "kind": "activity",
                "id": str(activity.id),
                "method": "crm.activity.list",
                "detail": f"{activity.provider} created {_when(activity.created)}",
            }
        )
    return list(found.values())


def _when(at: datetime | None) -> str:
    return "at an unknown time" if at is None else at.isoformat()


def _who(user: int | None) -> str:
    return "an unknown user" if user is None else f"user {user}"


def covering_sources(
    contents: Contents,
    template: TemplateInfo,
    at: datetime,
    edition: str,
    duration: int,
) -> tuple[list[str], list[str]]:
    """Which fetched sources must show a start of `template` at `at`, and why the others
    cannot: (sources that cover it, reasons no other source does)."""
    pulled, since = contents.manifest.pulled_at, contents.manifest.since
    covered: list[str] = []
    gaps: list[str] = []
    if not contents.manifest.requests:  # no snapshot: a collector's store alone
        return covered, gaps
    if at > pulled:
        return covered, [f"the snapshot was pulled at {pulled.isoformat()}, before the change"]
    if since is not None and at < since:
        # Tasks and activities were asked for since then only; running instances always whole.
        gaps.append(f"the pull asked for tasks and activities since {since.isoformat()} only")
    if duration and at + timedelta(seconds=duration) > pulled:
        if contents.fetched("bizproc.workflow.instances"):
            covered.append(
                f"bizproc.workflow.instances: it runs {duration} s (assumed), so it still ran "
                "at the pull"
            )
    else:
        gaps.append("bizproc.workflow.instances lists running workflows only")
    retention = TASK_RETENTION.get(edition, TASK_RETENTION["cloud"])
    if template.task_steps is None:
        gaps.append("the template's steps were not pulled: whether it makes tasks is unknown")
    elif not template.task_steps:
        gaps.append("the template has no task step: no bizproc.task.list row")
    elif pulled - at > retention:
        gaps.append(f"its tasks stay listed {retention.days} day(s) after completion on {edition}")
    elif contents.fetched("bizproc.task.list") and (since is None or at >= since):
        steps = ", ".join(template.task_steps)
        covered.append(
            f"bizproc.task.list: a task ({steps}), kept {retention.days} day(s) after completion"
            f" on {edition}"
        )
    crm = (template.document_type or "").startswith("crm.")
    if not crm:
        gaps.append("CRM_BIZPROC_* activities exist for CRM items only")
    elif template.auto_execute not in (0, 1):
        gaps.append("on-change templates leave no timeline activity by default")
    elif not template.task_steps:
        gaps.append(
            "without a task no CRM_BIZPROC_TASK activity; CRM_BIZPROC_WORKFLOW only when the "
            "item's responsible took part"
        )
    elif contents.fetched("crm.activity.list") and (since is None or at >= since):
        covered.append(
            "crm.activity.list: a CRM_BIZPROC_TASK activity (on-add templates with a task "
            "show in the timeline by default)"
        )
    return covered, gaps
