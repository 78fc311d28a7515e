"""The report's Markdown summary: totals, exclusions, queues and runaway cascades in words."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from projections.frames import CATEGORIES
from simulations.render import counted
from simulations.reports.figures import time_unit, waits_of


def render_summary(
    summary: dict[str, Any], queued: pd.DataFrame, where: str, links: dict[str, str]
) -> str:
    """The headline numbers as Markdown, each section followed by its figures."""
    by_outcome: Counter[str] = Counter()
    by_reason: Counter[tuple[str, str]] = Counter()
    for row in summary["by_outcome_reason_channel"]:
        by_outcome[row["outcome"]] += row["count"]
        by_reason[(row["reason"], row["outcome"])] += row["count"]
    total = summary["decisions"]
    processes = summary["processes"]
    cascades = summary["cascades"]
    lines = [
        "# Auto-start report",
        "",
        f"{where}: {counted(total, 'decision')}, "
        f"{counted(sum(processes.values()), 'process', 'processes')}, "
        f"{counted(len(cascades['runaways']), 'runaway cascade')}.",
        "",
        "## Decisions by outcome",
        "",
        "| outcome | decisions |",
        "|:--|--:|",
        *(f"| {o} | {by_outcome[o]} |" for o in CATEGORIES["outcome"]),
        f"| total | {total} |",
        "",
        links["decisions_by_channel.png"],
        "",
        "## Top reasons",
        "",
        *_reason_lines(by_reason, total),
        "",
        links["exclusion_matrix.png"],
        "",
        "## Processes by status",
        "",
        "| status | processes |",
        "|:--|--:|",
        *(f"| {s} | {processes.get(s, 0)} |" for s in CATEGORIES["status"]),
        f"| total | {sum(processes.values())} |",
        "",
        links["starts_over_time.png"],
        "",
        "## Queues",
        "",
        _queue_sentence(queued),
        "",
        links["queue_lengths.png"],
        "",
        links["waiting_times.png"],
        "",
        "## Cascades",
        "",
        "| cascades | count |",
        "|:--|--:|",
        f"| deepest depth | {cascades['deepest']} |",
        f"| process-made decisions | {cascades['process_made_decisions']} |",
        f"| runaways stopped | {len(cascades['runaways'])} |",
        "",
        links["cascade_depths.png"],
        "",
        *_runaway_lines(cascades["runaways"]),
    ]
    return "\n".join(lines) + "\n"


def _reason_lines(by_reason: Counter[tuple[str, str]], total: int, shown: int = 10) -> list[str]:
    if not total:
        return ["No decisions yet."]
    ordered = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
    return [
        "| reason | outcome | decisions | share |",
        "|:--|:--|--:|--:|",
        *(f"| {r} | {o} | {n} | {n / total:.1%} |" for (r, o), n in ordered[:shown]),
    ]


def _queue_sentence(queued: pd.DataFrame) -> str:
    if queued.empty:
        return "No process waited in a queue."
    waits = waits_of(queued).dropna()
    never = len(queued) - len(waits)
    text = f"{counted(len(queued), 'process', 'processes')} waited in a queue"
    if not waits.empty:
        text += (
            f": {len(waits):,} started after a median wait of {_duration(float(waits.median()))} "
            f"(longest {_duration(float(waits.max()))})"
        )
    return text + (f"; {never} never started." if never else ".")


def _duration(seconds: float) -> str:
    scale, unit = time_unit(seconds)
    return f"{seconds / scale:.3g} {unit}"


def _runaway_lines(runaways: list[dict[str, Any]], shown: int = 10) -> list[str]:
    """Runaways grouped by the shape of their chain (templates run-length encoded)."""
    if not runaways:
        return ["No runaway cascade: every cascade ended within the depth bound."]
    groups: dict[str, list[dict[str, Any]]] = {}
    for runaway in runaways:
        groups.setdefault(_chain(runaway["chain"]), []).append(runaway)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    lines = [
        "### Runaway chains",
        "",
        "| runaways | chain of causes | first stopped |",
        "|--:|:--|:--|",
    ]
    for chain, members in ordered[:shown]:
        first = members[0]
        lines.append(
            f"| {len(members)} | {chain} | {first['element']}, traffic line {first['line']}, "
            f"depth {first['depth']} |"
        )
    if len(ordered) > shown:
        rest = sum(len(members) for _, members in ordered[shown:])
        lines.extend(["", f"… and {rest} more runaways in {len(ordered) - shown} other chains."])
    return lines


def _chain(steps: list[dict[str, Any]]) -> str:
    """`crm.deal change via ui → template 301 on crm.deal x21`: repeated steps counted once."""
    if not steps:
        return "(no chain recorded)"
    root = steps[0]
    runs: list[list[Any]] = []
    for step in steps:
        key = f"template {step['template']} on {_document_type(step['element'])}"
        if runs and runs[-1][0] == key:
            runs[-1][1] += 1
        else:
            runs.append([key, 1])
    shown = [f"{key} x{n}" if n > 1 else key for key, n in runs]
    if len(shown) > 6:
        shown = [*shown[:3], f"… {len(shown) - 5} more …", *shown[-2:]]
    head = f"{_document_type(root['element'])} {root['trigger']} via {root['channel']}"
    return " → ".join([head, *shown])


def _document_type(element: str) -> str:
    return element.rsplit(":", 1)[0]
