"""One verdict per (element, template, trigger): the model's decisions beside the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.rules import RULES
from portal.collected_evidence import poll_coverage
from portal.contents import Contents
from portal.derive import Derived, TemplateInfo
from portal.evidence import Start, covering_sources
from projections.ledger import read_checks

STARTED, UNVERIFIABLE = "started", "expected, unverifiable"
EXCLUDED, ANOMALY = "excluded", "anomaly"
# Anomalies first: they are what a reader must look at.
VERDICTS = (ANOMALY, STARTED, UNVERIFIABLE, EXCLUDED)
# A workflow starts within a request or a background step of the change that started it.
START_TOLERANCE = timedelta(seconds=120)
# The reasons that rest on an assumption rather than on what REST shows.
ASSUMED = {
    "TEMPLATE_INACTIVE": "template.{template}.active",
    "FEATURE_DISABLED": "portal.plan / portal.features.*",
    "CONTAINER_DISABLED": "container.{document_type}.bizproc_enabled",
    "REST_LICENCE": "portal.licence",
    "LIMIT_REJECTED": "portal.limit_simultaneous_processes",
}


@dataclass
class Verdict:
    element: str
    document_type: str
    template: int
    template_name: str
    trigger: str
    verdict: str
    channel: str
    outcome: str
    reason: str
    rule: str | None
    at: str
    decisions: int
    note: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    inference: dict[str, Any] | None = None
    assumption: str | None = None
    # For an excluded one: what would have started it (projections.suggestions), if asked.
    fixes: dict[str, Any] | None = None
    decision_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "element": self.element,
            "document_type": self.document_type,
            "template": self.template,
            "template_name": self.template_name,
            "trigger": self.trigger,
            "verdict": self.verdict,
            "channel": self.channel,
            "outcome": self.outcome,
            "reason": self.reason,
            "rule": self.rule,
            "at": self.at,
            "decisions": self.decisions,
            "note": self.note,
            "evidence": self.evidence,
            "inference": self.inference,
            "assumption": self.assumption,
            "fixes": self.fixes,
        }


@dataclass
class Findings:
    verdicts: list[Verdict]
    unknown_templates: list[dict[str, Any]]  # robots or deleted templates, never dropped
    unmatched: list[dict[str, Any]]  # evidence with no decision to stand beside


def deciding_rule(checks: list[list[Any]]) -> str | None:
    for rule_id, _values in checks:
        if RULES[rule_id].reason is not None:
            return str(rule_id)
    return None


def judge(
    decisions: list[dict[str, Any]],
    derived: Derived,
    found: list[Start],
    contents: Contents,
    edition: str,
    durations: dict[int, int],
) -> Findings:
    """Matches every start to the decision it stands beside, then gives each group its verdict."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    by_pair: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for decision in decisions:
        if decision["line"] in derived.placed:
            continue  # an item placed so a collected change has one: its add is not audited
        decision["at_dt"] = datetime.fromisoformat(decision["at"])
        decision["starts"] = []
        key = (decision["element"], decision["template"], decision["trigger"])
        groups.setdefault(key, []).append(decision)
        by_pair.setdefault((decision["element"], decision["template"]), []).append(decision)
    unknown: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    for start in found:
        if start.template is None:
            unmatched.append(start.as_dict() | {"why": "its records do not say which template"})
            continue
        info = derived.templates.get(start.template)
        if info is None:
            unknown.append(
                start.as_dict()
                | {"why": "not in bizproc.workflow.template.list: a robot, or a deleted template"}
            )
            continue
        candidates = by_pair.get((start.element or "", info.id), [])
        if info.unmodelled is not None or info.auto_execute == 0 or not candidates:
            why = (
                f"template not modelled: {info.unmodelled}"
                if info.unmodelled
                else "a manual start (AUTO_EXECUTE 0: only a person or a process starts it)"
                if info.auto_execute == 0
                else _absent(start.element, contents)
            )
            unmatched.append(start.as_dict() | {"why": why})
            continue
        _nearest(candidates, start)["starts"].append(start)
    verdicts = [_verdict(group, derived, contents, edition, durations) for group in groups.values()]
    verdicts.sort(key=lambda v: (VERDICTS.index(v.verdict), v.element, v.template, v.trigger))
    return Findings(verdicts, unknown, unmatched)


def _absent(element: str | None, contents: Contents) -> str:
    """Why no decision stands beside a workflow: the element is not in the snapshot, and
    whether the pull was asked for it at all."""
    why = "no add or change of this element in the snapshot to stand beside"
    manifest = contents.manifest
    kind = (element or "").partition(":")[0]
    if kind.startswith("crm.") and kind.removeprefix("crm.") not in manifest.types:
        return f"{why}: the pull did not ask for {kind} items (--types)"
    if manifest.since is not None:
        return f"{why}: the pull asked only for what changed since {manifest.since.isoformat()}"
    return why


def _nearest(candidates: list[dict[str, Any]], start: Start) -> dict[str, Any]:
    """The last decision made before the workflow started (within the tolerance) that starts
    it, else the last one."""
    if start.started is None:
        return candidates[-1]
    before = [d for d in candidates if d["at_dt"] <= start.started + START_TOLERANCE]
    # Of changes close together (a collector's times are exact), the one the model starts it on.
    runs = [d for d in before if d["outcome"] in ("started", "queued")]
    return (runs or before)[-1] if before else candidates[0]


def _verdict(
    group: list[dict[str, Any]],
    derived: Derived,
    contents: Contents,
    edition: str,
    durations: dict[int, int],
) -> Verdict:
    first = group[0]
    info: TemplateInfo = derived.templates[first["template"]]
    runs = [d for d in group if d["outcome"] in ("started", "queued")]
    excluded = [d for d in group if d["outcome"] not in ("started", "queued")]
    shown = [d for d in group if d["starts"]]
    main = shown[0] if shown else runs[0] if runs else first
    verdict = Verdict(
        element=first["element"],
        document_type=first["document_type"],
        template=info.id,
        template_name=info.name,
        trigger=first["trigger"],
        verdict=EXCLUDED,
        channel=main["channel"],
        outcome=main["outcome"],
        reason=main["reason"],
        rule=None,
        at=main["at"],
        decisions=len(group),
        note="",
    )
    inference = derived.inference(main["line"])
    verdict.inference = inference.as_dict() if inference else None
    verdict.evidence = [s.as_dict() for d in group for s in d["starts"]]
    against = [d for d in excluded if d["starts"]]
    if against:
        d = against[0]
        rule = deciding_rule(read_checks(d["checks"]))
        source = RULES[rule].source if rule else ""
        verdict.outcome, verdict.reason, verdict.rule = d["outcome"], d["reason"], rule
        verdict.channel, verdict.at = d["channel"], d["at"]
        guess = derived.inference(d["line"])
        verdict.inference = guess.as_dict() if guess else None
        behind = f"; or the inference {guess.signal} ({guess.confidence})" if guess else ""
        verdict.verdict = ANOMALY
        verdict.note = (
            f"the portal ran it (workflow {d['starts'][0].workflow}) but the model says "
            f"{d['reason']} by rule {rule} ({source}): the rule is wrong{behind}"
            "; or it was started by hand (REST does not show STARTED_EVENT_TYPE)"
        )
        return verdict
    duration = durations.get(info.id, 0)
    missing = []
    for d in runs:
        if d["starts"]:
            continue
        covered, gaps = covering_sources(contents, info, d["at_dt"], edition, duration)
        change = derived.collected.get(d["line"]) if d["depth"] == 0 else None
        if change is not None:
            polled, unpolled = poll_coverage(change, info.id, d["outcome"], duration)
            covered, gaps = covered + polled, gaps + unpolled
        missing.append((d, covered, gaps))
    should = [(d, covered) for d, covered, _ in missing if covered]
    if should:
        d, covered = should[0]
        verdict.verdict, verdict.at, verdict.channel = ANOMALY, d["at"], d["channel"]
        verdict.rule = "evidence_missing"
        verdict.note = (
            "the model starts it, within the retention of a source that must show it, and "
            "nothing does: " + "; ".join(covered)
        )
        return verdict
    if shown:
        verdict.verdict = STARTED
        one = shown[0]["starts"][0]
        user = {0: "no user (0)", None: "an unknown user"}.get(one.user, f"user {one.user}")
        started = one.started.isoformat() if one.started else "an unknown time"
        kinds = ", ".join(f"{r['kind']} {r['id']}" for r in one.records)
        verdict.note = f"workflow {one.workflow} started {started} by {user}: {kinds}"
        return verdict
    if runs:
        verdict.verdict = UNVERIFIABLE
        verdict.note = "no source can show it: " + "; ".join(missing[0][2])
        return verdict
    rule = deciding_rule(read_checks(first["checks"]))
    verdict.rule = rule
    verdict.decision_id = first["id"]
    reasons = sorted({d["reason"] for d in group})
    verdict.note = f"{', '.join(reasons)} by rule {rule}"
    template = ASSUMED.get(first["reason"])
    if template:
        verdict.assumption = template.format(template=info.id, document_type=first["document_type"])
    return verdict
