"""`why`'s suggestions as text, and `why --fix N`: the suggested change replayed over a traffic."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from domain.starter import MAX_CASCADE_DEPTH
from projections.suggestions import numbered
from simulations.overrides import ChangedTraffic, Override, parse_setting
from simulations.replay import open_store, replay
from simulations.whatif import WhatIfDiff, _keyed, whatif

Decision = dict[str, Any]


def render_fixes(fixes: dict[str, Any] | None, indent: str) -> list[str]:
    """What would have made the decision start, or why nothing would, as text."""
    if not fixes:
        return []
    if fixes.get("retired"):
        return [f"{indent}no suggestion: an earlier model's rule decided it; replay the traffic"]
    lines = []
    for suggestion in fixes["suggestions"]:
        settings = " ".join(f"--set {shlex.quote(s)}" for s in suggestion["set"])
        lines.append(
            f"{indent}would start with fix #{suggestion['number']}: {settings} "
            f"({'; '.join(suggestion['says'])}) -> {suggestion['outcome']} {suggestion['reason']}"
        )
        if suggestion["warning"]:
            lines.append(f"{indent}  warning: {suggestion['warning']}")
    unliftable = fixes.get("no_configuration")
    if unliftable:
        lines.append(
            f"{indent}no configuration starts it ({unliftable['reason']}) "
            f"[{unliftable['confidence']}] {unliftable['source']}"
        )
        lines.extend(f"{indent}  instead: {way}" for way in unliftable["instead"])
    return lines


@dataclass(frozen=True, slots=True)
class Target:
    """One recorded decision, named as `whatif` pairs decisions across runs."""

    line: int
    key: tuple[Any, ...]


def target_of(recorded_line: list[Decision], decision: Decision) -> Target:
    """The key `whatif` gives `decision` among its line's recorded decisions (in order made)."""
    for key, candidate in _keyed(recorded_line).items():
        if candidate is decision:
            return Target(decision["line"], key)
    raise LookupError(decision)


def replayed(
    traffic: Iterable[str],
    overrides: Sequence[Override],
    target: Target,
    max_depth: int = MAX_CASCADE_DEPTH,
) -> Decision | None:
    """The decision paired with `target` when `traffic` is replayed with `overrides` forced.

    None when that replay makes no such decision (a cascade that no longer happens, or one
    halted before it).
    """
    changed = ChangedTraffic(overrides)
    found: list[Decision] = []

    def deliver(stream: IO[str]) -> None:
        import json  # noqa: PLC0415 - local to the one stream read here

        for text in stream:
            decision = json.loads(text)
            decision["line"] -= changed.injected
            if decision["line"] == target.line:
                found.append(decision)

    from domain.stores import parse_store  # noqa: PLC0415 - only the fix replays need it

    app = open_store(parse_store("memory:"))
    try:
        replay(app, changed.lines(traffic), deliver, source="why:fix", max_depth=max_depth)
    finally:
        app.close()
    return _keyed(found).get(target.key)


@dataclass(frozen=True, slots=True)
class FixReplay:
    """Suggestion N replayed: the decision it was made for, and what else the change does."""

    number: int
    suggestion: dict[str, Any]
    change: dict[str, Any]
    decision: Decision
    now: Decision | None
    diff: WhatIfDiff

    @property
    def starts(self) -> bool:
        return self.now is not None and self.now["outcome"] == "started"

    def as_dict(self) -> dict[str, Any]:
        return {
            "fix": self.number,
            "set": self.suggestion["set"],
            "element": self.decision["element"],
            "line": self.change["line"],
            "depth": self.change["depth"],
            "trigger": self.change["trigger"],
            "template": self.decision["template"],
            "recorded": {"outcome": self.decision["outcome"], "reason": self.decision["reason"]},
            "replayed": None
            if self.now is None
            else {"outcome": self.now["outcome"], "reason": self.now["reason"]},
            "starts": self.starts,
            "whatif": self.diff.as_dict(),
        }


def replay_fix(
    explanation: dict[str, Any],
    number: int,
    recorded_line: list[Decision],
    traffic: Callable[[], Iterable[str]],
) -> FixReplay:
    """Runs suggestion `number` of `explanation` over `traffic`: the decision, then the whole.

    `recorded_line` is the recorded run's decisions on the decision's traffic line, in the
    order made (to pair the decision as `whatif` does). Raises LookupError for an unknown N.
    """
    change, suggestion = numbered(explanation, number)
    decision = change["decision"]
    overrides = [parse_setting(setting) for setting in suggestion["set"]]
    mine = next(d for d in recorded_line if d["id"] == decision["fixes"]["decision_id"])
    target = target_of(recorded_line, mine)
    now = replayed(traffic(), overrides, target)
    diff = whatif(traffic, overrides)
    return FixReplay(number, suggestion, change, mine, now, diff)
