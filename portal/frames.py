"""pandas frames of an audit for notebooks, with every category listed (zero counts show)."""

from __future__ import annotations

import pandas as pd

from domain.vocabulary import ALL_CHANNELS, Outcome, Reason, Trigger
from portal.audit import AuditResult
from portal.inference import CONFIDENCES, SIGNALS
from portal.verdicts import VERDICTS

VERDICT_COLUMNS = (
    "element",
    "document_type",
    "template",
    "template_name",
    "trigger",
    "verdict",
    "channel",
    "outcome",
    "reason",
    "rule",
    "at",
    "evidence",
    "signal",
    "confidence",
    "assumption",
    "note",
)
CATEGORIES: dict[str, list[str]] = {
    "verdict": list(VERDICTS),
    "trigger": [t.value for t in Trigger],
    "channel": sorted(ALL_CHANNELS),
    "outcome": [o.value for o in Outcome],
    "reason": [r.value for r in Reason],
    "signal": list(SIGNALS),
    "confidence": list(CONFIDENCES),
}


def verdicts_frame(result: AuditResult) -> pd.DataFrame:
    """One row per (element, template, trigger): its verdict, the decision, the evidence count,
    and the signal and confidence behind the channel."""
    rows = []
    for verdict in result.findings.verdicts:
        inference = verdict.inference or {}
        rows.append(
            {
                "element": verdict.element,
                "document_type": verdict.document_type,
                "template": verdict.template,
                "template_name": verdict.template_name,
                "trigger": verdict.trigger,
                "verdict": verdict.verdict,
                "channel": verdict.channel,
                "outcome": verdict.outcome,
                "reason": verdict.reason,
                "rule": verdict.rule,
                "at": pd.Timestamp(verdict.at).tz_convert("UTC"),
                "evidence": sum(len(start["records"]) for start in verdict.evidence),
                "signal": inference.get("signal"),
                "confidence": inference.get("confidence"),
                "assumption": verdict.assumption,
                "note": verdict.note,
            }
        )
    frame = pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))
    for column, categories in CATEGORIES.items():
        frame[column] = pd.Categorical(frame[column], categories=categories)
    return frame
