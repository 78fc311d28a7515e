"""A collector's polls as evidence: the instances they saw, and what a poll that saw none proves.

A poll lists the document's running instances a few seconds after a change. An instance it saw
is a start (`started`). A poll that saw no instance of a template the model starts is proof of
absence only while an instance of that template would still run: made within the template's
duration (`template.T.duration`, assumed), it gives `anomaly` (the evidence a source must show
is missing); made later, or with the duration unknown, the workflow may have finished:
`expected, unverifiable`, saying so.
"""

from __future__ import annotations

from typing import Any

from portal.collected import Change, Collected, instance_started
from portal.evidence import Start
from portal.targets import as_int


def poll_starts(collected: Collected, found: list[Start]) -> list[Start]:
    """The starts a snapshot shows, with each instance a poll saw joined to its workflow's."""
    by_workflow = {s.workflow: s for s in found}

    def start(workflow: str, template: int | None) -> Start:
        if workflow not in by_workflow:
            by_workflow[workflow] = Start(workflow, None, template, None, None)
        entry = by_workflow[workflow]
        if entry.template is None:
            entry.template = template
        return entry

    for change in collected.changes:
        for poll in change.polls:
            for row in poll.instances or []:
                workflow = row.get("ID") or ""
                if not workflow or poll.at is None:
                    continue
                entry = start(workflow, as_int(row.get("TEMPLATE_ID")))
                entry.element = entry.element or change.document
                entry.started = entry.started or instance_started(row)
                if entry.user is None:
                    entry.user = as_int(row.get("STARTED_BY"))
                entry.records.append(
                    {
                        "kind": "poll",
                        "id": workflow,
                        "method": "bizproc.workflow.instances, the collector's poll",
                        "detail": f"running at {poll.at.isoformat()}, seen by poll {poll.poll} "
                        f"{poll.delay_s:g} s after {change.event} (received "
                        f"{change.received.isoformat()}); started {row.get('STARTED') or '?'} "
                        f"by user {row.get('STARTED_BY') or '?'}",
                    }
                )
    return list(by_workflow.values())


def poll_coverage(
    change: Change, template: int, outcome: str, duration: int
) -> tuple[list[str], list[str]]:
    """Whether the change's polls must have shown a start of `template` that no record shows:
    (the polls that must have, why the others could not)."""
    made = [p for p in change.polls if p.instances is not None]
    others = [p.describe() for p in change.polls if p.instances is None]
    if not made:
        why = "; ".join(others) if others else "the collector did not poll (no --webhook)"
        return [], [f"no poll of {change.document} after {change.event} was made: {why}"]
    if outcome == "queued":
        return [], ["queued behind the simultaneous limit: when it started, the polls cannot say"]
    covered: list[str] = []
    gaps: list[str] = []
    for poll in made:
        saw = f"the collector's {poll.describe()}, no instance of template {template}"
        if duration and poll.delay_s <= duration:
            covered.append(f"{saw}, and an instance runs {duration} s (assumed)")
        elif duration:
            gaps.append(f"{saw}, but an instance runs {duration} s (assumed): it had finished")
        else:
            gaps.append(
                f"{saw}, but how long an instance runs is unknown (set "
                f"template.{template}.duration): it may have finished"
            )
    return covered, gaps


def collected_record(change: Change) -> dict[str, Any]:
    """A delivery as the audit's store observes it."""
    return change.as_dict() | {"change": change.change, "fields": change.fields}
