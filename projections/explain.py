"""Why a process did or didn't start: an element's history told from the ledger rows, as data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.rules import RULES
from domain.vocabulary import element_name, is_document_type
from projections.database import ReadDatabase
from projections.ledger import REFUSED, read_checks, utc

TRIGGER_OF_OP = {
    "create": "add",
    "update": "change",
    REFUSED["add"]: "add",
    REFUSED["change"]: "change",
}


class UnknownElementError(LookupError):
    """The element never appeared in the store; carries the nearest known names."""

    def __init__(self, element: str, suggestions: list[str]) -> None:
        self.element = element
        self.suggestions = suggestions
        hint = f"; nearest known: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"no element {element} in the store{hint}")


@dataclass(frozen=True, slots=True)
class Query:
    element: str
    until: datetime | None = None
    template: int | None = None


def explain_checks(records: list[list[Any]]) -> list[dict[str, Any]]:
    """Each stored `[rule, values]` check with its step, verdict, confidence and source."""
    checks = []
    for rule_id, values in records:
        rule = RULES.get(rule_id)
        if rule is None:
            checks.append(_retired(rule_id, values))
            continue
        checks.append(
            {
                "check": rule.check,
                "passed": rule.reason is None,
                "reason": None if rule.reason is None else rule.reason.value,
                "values": values,
                "rule": rule_id,
                "confidence": rule.confidence,
                "source": rule.source,
            }
        )
    return checks


def _retired(rule_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """A check recorded by an earlier model, under a rule since revised: shown, not judged."""
    return {
        "check": rule_id.split(".", 1)[0],
        "passed": False,
        "reason": None,
        "values": values,
        "rule": rule_id,
        "confidence": "I",
        "source": f"rule {rule_id} of an earlier model version, since revised: replay the "
        "traffic to decide it again",
    }


def explain(db: ReadDatabase, query: Query) -> dict[str, Any]:
    """Every add and change of the element (up to `until`) with every template's decision."""
    known = db.query(
        "SELECT element, document_type FROM elements WHERE element = ?", (query.element,)
    )
    if not known:
        raise UnknownElementError(query.element, nearest(db, query.element))
    until = utc(query.until) if query.until is not None else None
    time_filter = " AND at_utc <= ?" if until else ""
    params: tuple[Any, ...] = (query.element, until) if until else (query.element,)
    changes = db.query(f"SELECT * FROM changes WHERE element = ?{time_filter} ORDER BY id", params)
    decision_filter = time_filter + (" AND template = ?" if query.template is not None else "")
    decision_params = params + ((query.template,) if query.template is not None else ())
    decisions = db.query(
        f"SELECT * FROM decisions WHERE element = ?{decision_filter} ORDER BY id",
        decision_params,
    )
    processes = {
        row["process"]: row
        for row in db.query("SELECT * FROM processes WHERE element = ?", (query.element,))
    }
    configs = _configs(db, {(d["template"], d["template_version"]) for d in decisions})
    by_revision: dict[int, list[dict[str, Any]]] = {}
    for decision in decisions:
        by_revision.setdefault(decision["revision"], []).append(
            _decision(db, decision, processes, configs, query.until)
        )
    # A halt lies on the element's chain when the element is its root or any step of it: all
    # of them changed on the halt's (root's) line.
    halts = [
        halt
        for halt in db.query(
            "SELECT * FROM halts WHERE line IN (SELECT line FROM changes WHERE element = ?)"
            f"{time_filter} ORDER BY id",
            params,
        )
        if halt["element"] == query.element
        or any(step["element"] == query.element for step in json.loads(halt["chain"]))
    ]
    return {
        "element": query.element,
        "document_type": known[0]["document_type"],
        "until": query.until.isoformat() if query.until else None,
        "template": query.template,
        "deleted": any(c["op"] == "delete" for c in changes),
        "changes": [_change(db, c, by_revision.get(c["revision"], [])) for c in changes],
        "halts": [
            {
                "element": h["element"],
                "at": h["at"],
                "line": h["line"],
                "depth": h["depth"],
                "chain": json.loads(h["chain"]),
            }
            for h in halts
        ],
    }


def _change(
    db: ReadDatabase, row: dict[str, Any], decisions: list[dict[str, Any]]
) -> dict[str, Any]:
    change: dict[str, Any] = {
        "revision": row["revision"],
        "op": row["op"],
        "trigger": TRIGGER_OF_OP.get(row["op"]),
        "refused": row["op"] in REFUSED.values(),
        "at": row["at"],
        "line": row["line"],
        "depth": row["depth"],
        "channel": row["channel"],
        "actor": row["actor"],
        "fields": json.loads(row["fields"]),
        "parameters": json.loads(row["parameters"]),
        "caused_by": None,
        "decisions": decisions,
    }
    if row["cause"] is not None:
        cause = db.query("SELECT * FROM processes WHERE process = ?", (row["cause"],))
        change["caused_by"] = {
            "process": row["cause"],
            "element": cause[0]["element"] if cause else None,
            "template": cause[0]["template"] if cause else None,
        }
    return change


def _decision(
    db: ReadDatabase,
    row: dict[str, Any],
    processes: dict[str, dict[str, Any]],
    configs: dict[tuple[int, int], dict[str, Any]],
    until: datetime | None,
) -> dict[str, Any]:
    process = processes.get(row["process"]) if row["process"] else None
    made = []
    if row["process"]:
        made = [
            {"element": c["element"], "revision": c["revision"], "op": c["op"], "at": c["at"]}
            for c in db.query(
                "SELECT element, revision, op, at FROM changes WHERE cause = ? ORDER BY id",
                (row["process"],),
            )
            if until is None or datetime.fromisoformat(c["at"]) <= until
        ]
    return {
        "template": row["template"],
        "template_version": row["template_version"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "process": row["process"],
        "process_status": None if process is None else status_as_of(process, until),
        "checks": explain_checks(read_checks(row["checks"])),
        "template_config": configs.get((row["template"], row["template_version"])),
        "cascade": {"line": row["line"], "depth": row["depth"], "changes_made": made},
    }


def status_as_of(process: dict[str, Any], until: datetime | None) -> dict[str, Any]:
    """The process's status as it stood at `until` (now when None): later steps left out."""
    status = {
        key: process[key]
        for key in ("status", "queued_at", "started_at", "ends_at", "ended_at", "end_reason")
    }
    if until is None:
        return status

    def by_then(key: str) -> bool:
        return status[key] is not None and datetime.fromisoformat(status[key]) <= until

    if by_then("ended_at"):
        return status
    status["ended_at"] = status["end_reason"] = None
    if by_then("started_at"):
        status["status"] = "running"
        return status
    status["started_at"] = status["ends_at"] = None
    if by_then("queued_at"):
        status["status"] = "queued"
    return status


def _configs(
    db: ReadDatabase, wanted: set[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, Any]]:
    found = {}
    for template in sorted({t for t, _ in wanted}):
        for row in db.query("SELECT * FROM templates WHERE template = ?", (template,)):
            if (template, row["version"]) in wanted:
                config = json.loads(row["config"])
                config["changes"] = json.loads(row["changes"])
                found[(template, row["version"])] = config
    return found


def nearest(db: ReadDatabase, element: str, count: int = 3) -> list[str]:
    """Known elements closest to `element`: same type and nearest id, else any of the type."""
    try:
        parsed = element_name(element)
    except ValueError:
        prefix = element.split(":", 1)[0]
        if not is_document_type(prefix):
            rows = db.query("SELECT element FROM elements ORDER BY element LIMIT ?", (count,))
            return [r["element"] for r in rows]
        rows = db.query(
            "SELECT element FROM elements WHERE document_type = ? ORDER BY number LIMIT ?",
            (prefix, count),
        )
        return [r["element"] for r in rows]
    doc_type, number = parsed.document_type.name, parsed.id
    below = db.query(
        "SELECT element, number FROM elements WHERE document_type = ? AND number < ? "
        "ORDER BY number DESC LIMIT ?",
        (doc_type, number, count),
    )
    above = db.query(
        "SELECT element, number FROM elements WHERE document_type = ? AND number > ? "
        "ORDER BY number LIMIT ?",
        (doc_type, number, count),
    )
    closest = sorted(below + above, key=lambda r: (abs(int(r["number"]) - number), r["number"]))
    return [r["element"] for r in closest[:count]]
