"""Explanations as text for a person: one block per change, one per template, one line a check."""

from __future__ import annotations

from typing import Any

from simulations.suggest import render_fixes

# The deciding check is FAIL; the other failing checks are "fail" (they would fail too).
PASS, DECIDING, ALSO_FAILING = "pass", "FAIL", "fail"
# The ledger's ops for writes the portal refused, and the op each attempted.
REFUSED_OPS = {"create_refused": "create", "update_refused": "update"}


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`1 line`, `2 lines`, `1,000 processes`: a count with its noun agreeing."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {noun}"


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{key}={_value(value)}" for key, value in values.items())


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def value_text(value: Any) -> str:
    """One value of a check or a field as `why` prints it (booleans as on/off)."""
    return _value(value)


def check_marks(checks: list[dict[str, Any]], reason: str | None = None) -> list[str]:
    """Each check's mark: FAIL on the first check giving the decision's `reason`.

    That is the first failing check, except for a write the portal refused: every template
    records the refusal, whatever its earlier checks say.
    """
    deciding = next(
        (i for i, c in enumerate(checks) if not c["passed"] and c["reason"] == reason),
        next((i for i, c in enumerate(checks) if not c["passed"]), None),
    )
    return [
        PASS if check["passed"] else DECIDING if index == deciding else ALSO_FAILING
        for index, check in enumerate(checks)
    ]


def render_checks(
    checks: list[dict[str, Any]], indent: str = "      ", reason: str | None = None
) -> list[str]:
    """One line a check, marked as `check_marks` says."""
    lines = []
    for check, mark in zip(checks, check_marks(checks, reason), strict=True):
        values = _values(check["values"])
        lines.append(
            f"{indent}{mark} {check['check']:<13}"
            f"{(values + '  ') if values else ''}"
            f"[{check['confidence']}] {check['source']}"
        )
    return lines


def render_decision(decision: dict[str, Any], indent: str = "    ") -> list[str]:
    head = (
        f"{indent}template {decision['template']} v{decision['template_version']}: "
        f"{decision['outcome']} {decision['reason']}"
    )
    status = decision.get("process_status")
    if decision.get("process"):
        head += f" -> process {decision['process']}"
        if status:
            head += f" ({_status(status)})"
    lines = [head]
    config = decision.get("template_config")
    if config:
        lines.append(
            f"{indent}  configuration v{config['version']}: auto_execute={config['auto_execute']}"
            f", active={_value(config['active'])}, duration={config['duration']}s, "
            + configured(config)
        )
    lines.extend(render_checks(decision["checks"], indent + "  ", decision["reason"]))
    lines.extend(render_fixes(decision.get("fixes"), indent + "  "))
    made = decision.get("cascade", {}).get("changes_made", [])
    if made:
        listed = ", ".join(f"{c['element']} ({c['op']})" for c in made)
        lines.append(f"{indent}  its actions changed: {listed}")
    lines.extend(_portal(decision.get("portal"), indent + "  "))
    return lines


def _portal(verdict: dict[str, Any] | None, indent: str) -> list[str]:
    """An audited store's verdict beside the model's checks, with the portal's evidence."""
    if not verdict:
        return []
    lines = [f"{indent}portal: {verdict['verdict'].upper()}: {verdict['note']}"]
    for start in verdict["evidence"]:
        for record in start["records"]:
            lines.append(
                f"{indent}  evidence: {record['kind']} {record['id']} ({record['method']}): "
                f"{record['detail']}"
            )
    if verdict.get("assumption"):
        lines.append(f"{indent}  rests on the assumption {verdict['assumption']}")
    return lines


def configured(config: dict[str, Any]) -> str:
    """When and by whom the configuration was set, saying plainly what the traffic left out."""
    when, who = config["changed_at"], config["changed_by"]
    unnamed = " (its line names no actor)"
    if when:
        return f"last changed by {who} at {when}" if who else f"last changed at {when}{unnamed}"
    return "set before the first timed line" + (f" by {who}" if who else unnamed)


def _status(status: dict[str, Any]) -> str:
    text = str(status["status"])
    if status.get("queued_at"):
        text += f", queued {status['queued_at']}"
    if status.get("started_at"):
        text += f", started {status['started_at']}"
    if status.get("ended_at"):
        text += f", ended {status['ended_at']}"
    if status.get("end_reason"):
        text += f" ({status['end_reason']})"
    return text


def render_explanation(explanation: dict[str, Any]) -> str:
    changes = explanation["changes"]
    title = f"{explanation['element']} ({explanation['document_type']})"
    scope = []
    if explanation.get("until"):
        scope.append(f"up to {explanation['until']}")
    if explanation.get("template") is not None:
        scope.append(f"template {explanation['template']} only")
    count = counted(len(changes), "change")
    lines = [title + (f", {'; '.join(scope)}" if scope else "") + f": {count}"]
    for change in changes:
        lines.append("")
        who = f" by {change['actor']}" if change["actor"] else ""
        via = f" via {change['channel']}" if change["channel"] else ""
        op, refused = change["op"], change["op"] in REFUSED_OPS
        lines.append(
            f"#{change['revision']} {REFUSED_OPS.get(op, op)}{via}{who} at {change['at']} "
            f"(traffic line {change['line']}, depth {change['depth']})"
            + (": refused by the portal, nothing was written" if refused else "")
        )
        if change["fields"]:
            label = "fields" if change["trigger"] == "add" else "changed"
            lines.append(f"    {label}: {_values(change['fields'])}")
        if change["parameters"]:
            lines.append(f"    parameters: {_values(change['parameters'])}")
        inference = change.get("inference")
        if inference:
            lines.append(
                f"    inferred channel {inference['channel']} from {inference['signal']} "
                f"({inference['confidence']}, {inference['label']}): {inference['detail']}"
            )
            collected = inference.get("collected")
            if collected:
                lines.append(
                    f"    collected: {collected['event']} received {collected['received']} "
                    f"(ts {collected['ts']}); its polls:"
                )
                lines.extend(f"      {poll}" for poll in collected["polls"] or ["none due"])
        cause = change.get("caused_by")
        if cause:
            lines.append(
                f"    made by process {cause['process']} "
                f"(template {cause['template']} on {cause['element']})"
            )
        if change["op"] != "delete" and not change["decisions"]:
            lines.append("    no template of this document type: no decision")
        for decision in change["decisions"]:
            lines.extend(render_decision(decision))
    for halt in explanation.get("halts", []):
        lines.append("")
        lines.append(
            f"runaway cascade stopped at depth {halt['depth']} on {halt['element']} at "
            f"{halt['at']} (traffic line {halt['line']}); chain of causes:"
        )
        lines.extend(
            f"    depth {step['depth']}: {step['element']} {step['trigger']} via "
            f"{step['channel']} -> template {step['template']} process {step['process']}"
            for step in halt["chain"]
        )
    return "\n".join(lines)
