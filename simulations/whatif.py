"""What-if replays: the traffic as recorded against the same traffic under other settings."""

from __future__ import annotations

import heapq
import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from domain.starter import MAX_CASCADE_DEPTH
from domain.stores import parse_store
from simulations.overrides import ChangedTraffic, Override, OverrideError, parse_setting
from simulations.replay import ReplaySummary, open_store, replay
from simulations.traffic import BadLineError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ChangedLineError",
    "Example",
    "Override",
    "OverrideError",
    "Tally",
    "WhatIfDiff",
    "parse_setting",
    "whatif",
]

LIVE = ("started", "queued")
RECORDED, CHANGED = "recorded", "changed"
Decision = dict[str, Any]


class ChangedLineError(BadLineError):
    """A traffic line refused only once the overrides apply; numbered as in the original file."""

    def __init__(self, error: BadLineError, shift: int, settings: Sequence[str]) -> None:
        got = f"{error.got} (refused only with {', '.join(settings)})"
        super().__init__(error.line - shift, error.field, error.expected, got)


@dataclass(frozen=True, slots=True)
class Example:
    element: str
    line: int


@dataclass(slots=True)
class Tally:
    """Processes gained and lost in one group: a template, a channel or a reason."""

    gained: int = 0
    lost: int = 0
    gained_examples: list[Example] = field(default_factory=list)
    lost_examples: list[Example] = field(default_factory=list)

    def add(self, *, gained: bool, example: Example, limit: int) -> None:
        if gained:
            self.gained += 1
        else:
            self.lost += 1
        examples = self.gained_examples if gained else self.lost_examples
        if len(examples) < limit and all(e.element != example.element for e in examples):
            examples.append(example)

    def as_dict(self) -> dict[str, Any]:
        return {
            "gained": self.gained,
            "lost": self.lost,
            "gained_examples": [asdict(e) for e in self.gained_examples],
            "lost_examples": [asdict(e) for e in self.lost_examples],
        }


@dataclass(slots=True)
class WhatIfDiff:
    """How the decisions change under the overrides, counted, with a few examples.

    A process is gained when it is started or queued with the overrides and was not in the
    recorded run, lost the other way round. `by_reason` groups a gained process by the reason
    it had in the recorded run, a lost one by the reason it gets with the overrides; None when
    that run made no such decision (a cascade that did not happen there).
    """

    settings: tuple[str, ...]
    lines: int = 0
    recorded_decisions: int = 0
    changed_decisions: int = 0
    recorded_warnings: int = 0
    changed_warnings: int = 0
    gained: int = 0
    lost: int = 0
    outcome_changed: int = 0
    reason_changed: int = 0
    only_recorded: int = 0
    only_changed: int = 0
    unused: tuple[str, ...] = ()
    by_template: dict[int, Tally] = field(default_factory=dict)
    by_channel: dict[str, Tally] = field(default_factory=dict)
    by_reason: dict[str | None, Tally] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (
            self.gained
            or self.lost
            or self.outcome_changed
            or self.reason_changed
            or self.only_recorded
            or self.only_changed
        )

    def add(
        self, line: int, recorded: Decision | None, changed: Decision | None, examples: int
    ) -> None:
        """Counts one decision matched across the runs (None where a run did not make it)."""
        if recorded is not None and changed is not None:
            self.outcome_changed += recorded["outcome"] != changed["outcome"]
            self.reason_changed += recorded["reason"] != changed["reason"]
        elif changed is not None:
            self.only_changed += 1
        else:
            self.only_recorded += 1
        was = recorded is not None and recorded["outcome"] in LIVE
        now = changed is not None and changed["outcome"] in LIVE
        if was == now:
            return
        decision, other = (changed, recorded) if now else (recorded, changed)
        if decision is None:  # never: the side where it is live made the decision
            return
        reason = None if other is None else other["reason"]
        example = Example(decision["element"], line)
        for tally in (
            self.by_template.setdefault(decision["template"], Tally()),
            self.by_channel.setdefault(decision["channel"], Tally()),
            self.by_reason.setdefault(reason, Tally()),
        ):
            tally.add(gained=now, example=example, limit=examples)
        if now:
            self.gained += 1
        else:
            self.lost += 1

    def as_dict(self) -> dict[str, Any]:
        totals = {name: getattr(self, name) for name in _TOTALS}
        return {
            "settings": list(self.settings),
            **totals,
            "unused": list(self.unused),
            "by_template": [
                {"template": key, **self.by_template[key].as_dict()}
                for key in sorted(self.by_template)
            ],
            "by_channel": [
                {"channel": key, **tally.as_dict()} for key, tally in _ranked(self.by_channel)
            ],
            "by_reason": [
                {"reason": key, **tally.as_dict()} for key, tally in _ranked(self.by_reason)
            ],
        }


_TOTALS = (
    "lines",
    "recorded_decisions",
    "changed_decisions",
    "recorded_warnings",
    "changed_warnings",
    "gained",
    "lost",
    "outcome_changed",
    "reason_changed",
    "only_recorded",
    "only_changed",
)


def _ranked(groups: Mapping[Any, Tally]) -> list[tuple[Any, Tally]]:
    return sorted(groups.items(), key=lambda item: (-item[1].gained - item[1].lost, item[0] or ""))


def whatif(
    traffic: Callable[[], Iterable[str]],
    overrides: Sequence[Override],
    *,
    examples: int = 3,
    max_depth: int = MAX_CASCADE_DEPTH,
    in_memory: bool = False,
    on_progress: Callable[[str, int], None] = lambda _run, _lines: None,
) -> WhatIfDiff:
    """Replays `traffic()` as it is and with `overrides`, and compares the decisions.

    `traffic` is called twice, each time for a fresh stream of the same lines. Each run goes
    into a throw-away SQLite file in a temporary folder, deleted once its decisions are spooled
    to a temporary file, so memory stays flat whatever the traffic's length; with `in_memory`,
    into memory instead (no faster; it holds every event of the run, about 0.9 KB each).
    Raises BadLineError for bad traffic, ChangedLineError for a line refused only with the
    overrides, OverrideError when two overrides set the same key.
    """
    changed = ChangedTraffic(overrides)
    diff = WhatIfDiff(settings=tuple(o.setting for o in overrides))
    with (
        tempfile.TemporaryDirectory(prefix="autostart-whatif-") as folder,
        closing(sqlite3.connect(Path(folder) / "decisions.db")) as db,
    ):
        scratch = None if in_memory else Path(folder)
        before = _run(db, RECORDED, traffic(), 0, max_depth, scratch, on_progress)
        try:
            after = _run(
                db,
                CHANGED,
                changed.lines(traffic()),
                changed.injected,
                max_depth,
                scratch,
                on_progress,
            )
        except BadLineError as error:
            if error.line <= changed.injected:
                raise OverrideError(", ".join(diff.settings), str(error)) from None
            raise ChangedLineError(error, changed.injected, diff.settings) from None
        groups = heapq.merge(_groups(db, RECORDED), _groups(db, CHANGED), key=itemgetter(0, 1))
        for line, sides in groupby(groups, key=itemgetter(0)):
            found = {side: decisions for _, side, decisions in sides}
            recorded, now = _keyed(found.get(RECORDED, [])), _keyed(found.get(CHANGED, []))
            for key in [*recorded, *(k for k in now if k not in recorded)]:
                diff.add(line, recorded.get(key), now.get(key), examples)
    diff.lines = before.lines
    diff.recorded_decisions, diff.changed_decisions = before.decisions, after.decisions
    diff.recorded_warnings, diff.changed_warnings = before.warnings, after.warnings
    diff.unused = changed.unused()
    return diff


def _run(
    db: sqlite3.Connection,
    run: str,
    lines: Iterable[str],
    shift: int,
    max_depth: int,
    scratch: Path | None,
    on_progress: Callable[[str, int], None],
) -> ReplaySummary:
    """Replays into a scratch store; its decisions go to table `run`, numbered as the original.

    The store is a SQLite file in the folder `scratch`, deleted after the run, or in memory
    when `scratch` is None.

    Decisions come out in the order made, which is not always line order: a queued instance
    that starts later runs its actions under the line that queued it. The table's index puts
    them back in line order without holding them in memory.
    """
    db.execute(f"CREATE TABLE {run} (line INTEGER NOT NULL, row TEXT NOT NULL)")

    def deliver(stream: IO[str]) -> None:
        rows = ((json.loads(text)["line"] - shift, text) for text in stream)
        db.executemany(f"INSERT INTO {run} VALUES (?, ?)", rows)
        db.execute(f"CREATE INDEX {run}_by_line ON {run} (line)")
        db.commit()

    store = parse_store("memory:" if scratch is None else str(scratch / f"{run}.db"))
    app = open_store(store)
    try:
        return replay(
            app,
            lines,
            deliver,
            source=f"whatif:{run}",
            max_depth=max_depth,
            on_progress=lambda count: on_progress(run, count - shift),
        )
    finally:
        app.close()
        if store.path is not None:
            for path in store.path.parent.glob(f"{store.path.name}*"):  # with -wal, -shm
                path.unlink()


def _groups(db: sqlite3.Connection, run: str) -> Iterator[tuple[int, str, list[Decision]]]:
    """A run's decisions a traffic line at a time, in line order then in the order made."""
    rows = db.execute(f"SELECT line, row FROM {run} ORDER BY line, rowid")
    for line, group in groupby(rows, key=itemgetter(0)):
        yield line, run, [json.loads(row) for _, row in group]


def _keyed(decisions: list[Decision]) -> dict[tuple[Any, ...], Decision]:
    """One line's decisions by (depth, element, trigger, template, occurrence).

    An element that a process of this line's cascade created is named by its place among the
    elements of its type created in the cascade, not by its id: ids follow creation order over
    the whole traffic, so when the overrides create fewer elements on earlier lines, the same
    cascade creates the same elements under other ids.
    """
    created: dict[str, tuple[str, int]] = {}
    made: Counter[str] = Counter()
    named: set[str] = set()
    seen: Counter[tuple[Any, ...]] = Counter()
    keyed = {}
    for decision in decisions:
        element = decision["element"]
        if element not in named:
            named.add(element)
            if decision["trigger"] == "add" and decision["channel"] == "bizproc":
                document_type = element.rpartition(":")[0]
                created[element] = (document_type, made[document_type])
                made[document_type] += 1
        name = created.get(element, element)
        base = (decision["depth"], name, decision["trigger"], decision["template"])
        keyed[(*base, seen[base])] = decision
        seen[base] += 1
    return keyed


def whatif_frame(diffs: Mapping[str, WhatIfDiff], by: str) -> pd.DataFrame:
    """Processes gained and lost per `by` (template, channel or reason), one block a change."""
    import pandas as pd  # noqa: PLC0415 - half the command line's start-up, for notebooks only

    blocks = {
        name: pd.DataFrame(diff.as_dict()[f"by_{by}"], columns=[by, "gained", "lost"]).set_index(by)
        for name, diff in diffs.items()
    }
    return pd.concat(blocks, names=["change", by])
