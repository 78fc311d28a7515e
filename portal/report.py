"""The audit's Markdown summary: anomalies first, then verdict counts, then what it assumed."""

from __future__ import annotations

from typing import Any

from portal.verdicts import VERDICTS


def markdown(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    lines = [
        f"# Audit of {summary['portal']} ({_as_of(summary)} {summary['pulled_at']})",
        "",
        f"{summary['records']} records read, {summary['traffic_lines']} traffic lines derived "
        "and replayed; verdicts: " + ", ".join(f"{counts[v]} {v}" for v in VERDICTS) + ".",
        *_collected(summary.get("collected")),
        "",
        "## Anomalies",
        "",
    ]
    if not summary["anomalies"]:
        lines.append("None: no evidence contradicts the model.")
    for verdict in summary["anomalies"]:
        lines.append(
            f"- **{verdict['element']}**, template {verdict['template']} "
            f"({verdict['template_name']}), {verdict['trigger']} via {verdict['channel']} at "
            f"{verdict['at']}: model `{verdict['outcome']} {verdict['reason']}`; "
            f"{verdict['note']}"
        )
    for title, key in (
        ("By template", "by_template"),
        ("By document type", "by_type"),
        ("By channel", "by_channel"),
    ):
        lines += ["", f"## {title}", "", _table(key.removeprefix("by_"), summary[key])]
    lines += ["", "## Excluded, and why", ""]
    excluded = [v for v in summary["verdicts"] if v["verdict"] == "excluded"]
    if not excluded:
        lines.append("None.")
    for verdict in excluded:
        inference = verdict["inference"]
        behind = (
            f"; channel {inference['channel']} from {inference['signal']} "
            f"({inference['confidence']} {inference['label']})"
            if inference
            else ""
        )
        assumed = f"; rests on {verdict['assumption']}" if verdict["assumption"] else ""
        lines.append(
            f"- {verdict['element']}, template {verdict['template']} {verdict['trigger']}: "
            f"{verdict['reason']}{behind}{assumed}"
        )
    lines += ["", "## Evidence the model cannot place", ""]
    placed = summary["unknown_templates"] + summary["unmatched_evidence"]
    if not placed:
        lines.append("None.")
    for start in placed:
        lines.append(
            f"- workflow {start['workflow']} on {start['element'] or '(unknown element)'}, "
            f"template {start['template']}: {start['why']}"
        )
    for template in summary["unmodelled_templates"]:
        lines.append(f"- template {template['template']} ({template['name']}): {template['why']}")
    lines += ["", "## Assumptions (what REST cannot show)", "", "| key | value | from |"]
    lines.append("|---|---|---|")
    for assumption in summary["assumptions"]:
        lines.append(f"| {assumption['key']} | {assumption['value']} | {assumption['source']} |")
    return "\n".join(lines) + "\n"


def _table(label: str, table: dict[str, dict[str, int]]) -> str:
    head = f"| {label} | " + " | ".join(VERDICTS) + " |"
    rule = "|---|" + "---:|" * len(VERDICTS)
    rows = [
        f"| {name} | " + " | ".join(str(row[v]) for v in VERDICTS) + " |"
        for name, row in table.items()
    ]
    return "\n".join([head, rule, *rows])


def _collected(collected: dict[str, Any] | None) -> list[str]:
    if not collected:
        return []
    polls = ", ".join(f"{n} {state}" for state, n in collected["polls"].items())
    return [
        "",
        f"Collected: {collected['deliveries']} deliveries in {collected['store']} from "
        f"{collected['first']} to {collected['last']}; polls: {polls}.",
    ]


def _as_of(summary: dict[str, Any]) -> str:
    """A snapshot's audit is as of its pull; a collector's store alone, as of its last record."""
    alone = summary.get("client", {}).get("name") == "autostart collector"
    return "as of the collector's last record," if alone else "pulled"
