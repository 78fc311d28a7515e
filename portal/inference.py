"""How a change is taken to have come through a channel REST does not show: signal, confidence.

The signals are `audit_signals`' own (and a few of this module's): the stage history's
insertion time against DATE_CREATE (an import, or a restore), DATE_CREATE out of order with the
ids (a restore), `webformId` (a web form), no creating user (a process); for the rest a
person's add or change (`ui`), labelled as the default it is. A channel decided without a field
it needed (absent, null or empty in the snapshot) is one rung less sure, and says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.records import ItemRow, StageRow

# More than this between DATE_CREATE and the stage history's insertion time is not clock skew.
INSERTION_GAP = timedelta(seconds=60)
# A later updatedTime this far from every other known event is a change of its own.
CHANGE_GAP = timedelta(seconds=60)
CREATION_ROWS = (1, 3)  # stage-history TYPE_ID: created, or created in a final stage
# The signals a channel is inferred from (audit_signals' names, and this module's own), and
# how sure each can be, strongest first.
SIGNALS = (
    "stage_history_vs_date_create",
    "date_create_not_monotone_in_id",
    "source_fields",
    "created_by_zero",
    "stage_history_move",
    "updated_time",
    "list_element",
    "drive_version",
    "event_auth_tokens_absent",
    "collected_delivery",
    "existed_before_collector",
    "no_signal",
)
CONFIDENCES = ("strong heuristic", "heuristic", "medium", "weak", "default")


@dataclass(frozen=True, slots=True)
class Inference:
    """Why a change is taken to have come through a channel: the signal and how sure we are."""

    element: str
    trigger: str
    at: str
    channel: str
    signal: str
    confidence: str  # strong heuristic, heuristic, medium, weak, default
    label: str  # [CODE], [DOC], [INF] as in the REST notes
    detail: str
    unknown: tuple[str, ...] = ()  # fields it needed that the snapshot did not give

    def as_dict(self) -> dict[str, Any]:
        return {
            "element": self.element,
            "trigger": self.trigger,
            "at": self.at,
            "channel": self.channel,
            "signal": self.signal,
            "confidence": self.confidence,
            "label": self.label,
            "detail": self.detail,
            "unknown": list(self.unknown),
        }


@dataclass(order=True)
class Timed:
    at_utc: datetime
    order: int
    line: dict[str, Any] = field(compare=False)
    inference: Inference = field(compare=False)
    change: Any = field(default=None, compare=False)  # the collected change it stands for
    placed: bool = field(default=False, compare=False)  # placed only so a change has an item


def actor(user: int | None) -> str | None:
    return f"user_{user}" if user else None


def event(
    order: int,
    at: datetime,
    line: dict[str, Any],
    trigger: str,
    signal: tuple[str, str, str, str],
    unknown: tuple[str, ...] = (),
) -> Timed:
    if unknown:
        signal = less_sure(
            signal,
            f"{', '.join(unknown)} not in the snapshot (absent, null or empty), so what it "
            "would have shown is unknown",
        )
    name, confidence, label, detail = signal
    line = {"op": line.pop("op"), "at": at.isoformat(), **line}
    inference = Inference(
        line["element"],
        trigger,
        line["at"],
        line["channel"],
        name,
        confidence,
        label,
        detail,
        unknown,
    )
    return Timed(at.astimezone(UTC), order, line, inference)


def less_sure(signal: tuple[str, str, str, str], because: str) -> tuple[str, str, str, str]:
    """The signal one rung less sure (a default stays a default), saying why."""
    name, confidence, label, detail = signal
    lower = CONFIDENCES[min(CONFIDENCES.index(confidence) + 1, len(CONFIDENCES) - 1)]
    return name, lower, label, f"{detail} (less sure: {because})"


def item_events(
    order: int,
    name: str,
    item: ItemRow,
    history: list[StageRow],
    *,
    restored: bool,
    since: datetime | None = None,
) -> list[Timed]:
    """The item's add, its stage moves and a later change; `since`: the pull saw only items
    changed since then, so a lower id with a later DATE_CREATE (a restore) may be unseen."""
    creation = next((s for s in history if s.kind in CREATION_ROWS), None)
    inserted = creation.created if creation is not None else item.created
    gap = inserted - item.created
    at = inserted if gap > INSERTION_GAP else item.created
    who = actor(item.created_by)
    channel, signal, unknown = _add_channel(item, gap, inserted, restored=restored)
    if channel == "import" and since is not None:
        signal = less_sure(
            signal,
            f"the pull asked only for items changed since {since.isoformat()}, so a lower id "
            "with a later DATE_CREATE, the mark of a restore, may be missing",
        )
    line: dict[str, Any] = {"op": "create", "element": name, "channel": channel}
    if who:
        line["actor"] = who
    events = [event(order, at, line, "add", signal, unknown)]
    known = [at]
    for stage in history:
        if stage is creation or stage.created <= at:
            continue
        move = {
            "op": "update",
            "element": name,
            "channel": "ui",
            "changed": {"STAGE_ID": stage.stage},
        }
        detail = (
            f"stage history row {stage.id} (TYPE_ID {stage.kind}) moved it to {stage.stage}: "
            "a stage move with a time but no user and no channel, taken as a person's move"
        )
        signal = ("stage_history_move", "default", "[DOC]", detail)
        events.append(event(order + len(events), stage.created, move, "change", signal))
        known.append(stage.created)
    updated = item.updated
    if updated is not None and updated > at and all(abs(updated - t) > CHANGE_GAP for t in known):
        change = {
            "op": "update",
            "element": name,
            "channel": "ui",
            "changed": {"UPDATED_TIME": updated.isoformat()},
        }
        detail = (
            f"updatedTime {updated.isoformat()} is later than every other known "
            "event: at least one change then; which fields changed, and through what, "
            "REST does not show"
        )
        signal = ("updated_time", "weak", "[INF]", detail)
        events.append(event(order + len(events), updated, change, "change", signal))
    if "updatedTime" in item.unknown:
        first = events[0].inference
        note = "; updatedTime not in the snapshot: a later change, if any, is not derived"
        events[0].inference = replace(first, detail=first.detail + note)
    return events


def _add_channel(
    item: ItemRow, gap: timedelta, inserted: datetime, *, restored: bool
) -> tuple[str, tuple[str, str, str, str], tuple[str, ...]]:
    """The add's channel, its signal, and the fields the signal needed that are unknown: a web
    form and a process are told by webformId and createdBy, and a person's add by neither."""
    created = item.created.isoformat()
    if gap > INSERTION_GAP and restored:
        return (
            "ui",
            (
                "date_create_not_monotone_in_id",
                "heuristic",
                "[CODE]+[INF]",
                f"DATE_CREATE {created} is older than a lower id's and the stage history shows "
                f"the insertion at {inserted.isoformat()}: a Recycle Bin restore (new id, original "
                "DATE_CREATE), which starts on-add workflows with STARTED_BY 0; decided as an add "
                "that starts processes (ui)",
            ),
            (),
        )
    if gap > INSERTION_GAP:
        return (
            "import",
            (
                "stage_history_vs_date_create",
                "strong heuristic",
                "[CODE]",
                f"inserted at {inserted.isoformat()} (stage history) but DATE_CREATE says "
                f"{created}, {_span(gap)} earlier: an import with a backdated creation time "
                "(a restore would also break the order of DATE_CREATE by id, which holds here)",
            ),
            (),
        )
    if item.webform:
        return (
            "web_form",
            (
                "source_fields",
                "medium",
                "[CODE]",
                f"webformId {item.webform}: the item came from a CRM web form",
            ),
            (),
        )
    form_unknown = tuple(name for name in item.unknown if name == "webformId")
    if item.created_by == 0:
        return (
            "bizproc",
            (
                "created_by_zero",
                "weak",
                "[INF]",
                "created with no user (createdBy 0): a process step run in an agent or a queue; "
                "nothing on an item marks it as made by a process",
            ),
            form_unknown,
        )
    unknown = tuple(name for name in item.unknown if name in ("createdBy", "webformId"))
    return (
        "ui",
        (
            "no_signal",
            "default",
            "[INF]",
            f"no sign of an import, a restore, a web form or a process (source {item.source}): "
            "taken as a person's add",
        ),
        unknown,
    )


def _span(gap: timedelta) -> str:
    seconds = int(gap.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400} days"
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds} s"
