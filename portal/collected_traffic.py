"""A collector's changes as traffic lines, in the order and at the times received, merged with a
snapshot's history: the snapshot gives what came before, the collector what it saw.

Within the collector's span (its first to its last delivery, a minute either side), the changes a
snapshot derives for CRM items are left out: the collector saw them, at their real times. A
collected add of an item the snapshot shows keeps the snapshot's channel inference (the stage
history can tell an import; a delivery cannot) at the collector's time. An item the collector saw
changed but never added existed before it started: it is placed by a silent import, whose
decisions no verdict counts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from portal.collected import Change, Collected
from portal.inference import Inference, Timed, event

# A snapshot's change this close to the collector's span may be one the collector saw.
SPAN_MARGIN = timedelta(seconds=60)
PLACED_FILE = "existed before the collector started"


def merge(timed: list[Timed], collected: Collected, types: list[str]) -> list[Timed]:
    """The snapshot's timed lines with the collected changes in their place (unsorted)."""
    changes = [c for c in collected.changes if c.document_type in types]
    if not changes:
        return timed
    first = changes[0].received - SPAN_MARGIN
    last = changes[-1].received + SPAN_MARGIN
    added = {c.document for c in changes if c.change == "add"}
    kept: list[Timed] = []
    snapshot_adds: dict[str, Inference] = {}
    for line in timed:
        crm = line.inference.element.startswith("crm.")
        if crm and line.inference.trigger == "add" and line.inference.element in added:
            snapshot_adds[line.inference.element] = line.inference
            continue
        if crm and line.inference.trigger == "change" and first <= line.at_utc <= last:
            continue
        kept.append(line)
    known = {t.inference.element for t in kept if t.inference.trigger == "add"}
    apps = collected.handlers_with_tokens()
    order = len(timed)
    for change in changes:
        if change.change == "add" and change.document in known:
            continue  # a repeated add of an item already there: the portal sent it twice
        if change.change != "add" and change.document not in known:
            kept.append(_placed(order, change))
            order += 1
        known.add(change.document)
        snapshot = snapshot_adds.get(change.document) if change.change == "add" else None
        kept.append(_line(order, change, snapshot, apps))
        order += 1
    return kept


def _placed(order: int, change: Change) -> Timed:
    at = change.received.isoformat()
    line: dict[str, Any] = {
        "op": "import",
        "at": at,
        "document_type": change.document_type,
        "file": PLACED_FILE,
        "elements": [change.document],
    }
    detail = (
        f"the collector saw {change.document} {change.change}d ({change.event}) but never added: "
        "it existed before the collector started, and is placed here by a silent import so the "
        "change has an item to change; no verdict counts its decisions"
    )
    inference = Inference(
        change.document, "add", at, "import", "existed_before_collector", "default", "[INF]", detail
    )
    return Timed(change.received, order, line, inference, change=None, placed=True)


def _line(order: int, change: Change, snapshot: Inference | None, apps: set[str | None]) -> Timed:
    line: dict[str, Any] = {"op": _OPS[change.change], "element": change.document}
    if change.user and change.user != "0":
        line["actor"] = f"user_{change.user}"
    received = change.received.isoformat()
    said = f"{change.event} received {received} (ts {change.ts})"
    if change.change == "update":
        moved = {k: change.fields[k] for k in ("CATEGORY_ID", "STAGE_ID") if k in change.fields}
        line["changed"] = moved or {"UNKNOWN_FIELDS": change.event}
    trigger = "add" if change.change == "add" else "change"
    if snapshot is not None:
        line["channel"] = snapshot.channel
        timed = event(order, change.received, line, trigger, _signal(snapshot))
        detail = f"{snapshot.detail}; at the collector's time: {said}"
        timed.inference = replace(timed.inference, detail=detail, unknown=snapshot.unknown)
    elif change.change == "delete":
        signal = ("collected_delivery", "default", "[DOC]", f"{said}: deleted")
        line["channel"] = "ui"
        timed = event(order, change.received, line, "change", signal)
        timed.line.pop("channel")
    elif change.handler in apps and not change.user_token:
        line["channel"] = "bizproc"
        detail = (
            f"{said} without the user's OAuth token, to a handler that gets one when a person "
            "makes the change: the portal sends none when a workflow, robot or agent made it"
        )
        timed = event(
            order,
            change.received,
            line,
            trigger,
            ("event_auth_tokens_absent", "medium", "[DOC]", detail),
        )
    else:
        line["channel"] = "ui"
        what = (
            "which fields changed, and through what channel, a delivery does not say"
            if change.change == "update"
            else "through what channel, a delivery does not say"
        )
        detail = f"{said}: {what}; taken as a person's {'add' if trigger == 'add' else 'change'}"
        timed = event(
            order,
            change.received,
            line,
            trigger,
            ("collected_delivery", "default", "[DOC]", detail),
        )
    timed.change = change
    return timed


def _signal(inference: Inference) -> tuple[str, str, str, str]:
    return inference.signal, inference.confidence, inference.label, inference.detail


_OPS = {"add": "create", "update": "update", "delete": "delete"}
