"""`autostart why` on an audited store: the portal's evidence and inferences beside the checks."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from domain.application import AutostartApplication
from portal.observations import ElementAudit


def element_audit(app: AutostartApplication, element: str) -> dict[str, Any] | None:
    """What the audit concluded about `element`, or None when no audit saw it."""
    try:
        audit: ElementAudit = app.repository.get(ElementAudit.create_id(element))
    except AggregateNotFoundError:
        return None
    return {
        "portal": audit.portal,
        "pulled_at": audit.pulled_at,
        "verdicts": audit.verdicts,
        "inferences": audit.inferences,
        "unplaced": audit.unplaced,
    }


def attach(explanation: dict[str, Any], audit: dict[str, Any]) -> None:
    """Puts each verdict beside its decisions and each inference beside its change."""
    verdicts = {(v["template"], v["trigger"]): v for v in audit["verdicts"]}
    inferences = {i["line"]: i for i in audit["inferences"]}
    for change in explanation["changes"]:
        if change["depth"] == 0 and change["line"] in inferences:
            change["inference"] = inferences[change["line"]]
        for decision in change["decisions"]:
            verdict = verdicts.get((decision["template"], change["trigger"]))
            if verdict is not None:
                decision["portal"] = {
                    key: verdict[key]
                    for key in ("verdict", "note", "rule", "assumption", "evidence")
                }
    explanation["portal"] = audit


def render_audit(explanation: dict[str, Any]) -> list[str]:
    """The lines `why` adds for an audited element: a closing summary of its verdicts."""
    audit = explanation.get("portal")
    if not audit:
        return []
    lines = ["", f"on the portal {audit['portal']} (snapshot pulled {audit['pulled_at']}):"]
    only = explanation.get("template")
    for verdict in audit["verdicts"]:
        if only is not None and verdict["template"] != only:
            continue
        lines.append(
            f"    template {verdict['template']} {verdict['trigger']}: {verdict['verdict']}"
            f" ({verdict['note']})"
        )
    if not audit["verdicts"]:
        lines.append("    no template of this element's type was modelled")
    for start in audit["unplaced"]:
        lines.append(
            f"    workflow {start['workflow']} (template {start['template']}, started "
            f"{start['started']}): {start['why']}"
        )
    return lines
