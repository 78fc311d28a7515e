"""Every add or change is decided once per template, against what was in force."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from projections.database import ReadDatabase
from simulations.checker.inforce import InForce
from simulations.checker.queries import describe_decision, describe_outcome, within
from simulations.checker.spec import TRIGGER_OF_OP, Violation


def every_change_gets_one_decision_per_template(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """Each add or change has one decision per template of its type existing then, no other."""
    law = "every_change_gets_one_decision_per_template"
    in_force = InForce.load(db)
    # Both tables are indexed by (element, id): the merge streams each element's history in
    # order, and a decision belongs to the element's last change before it.
    rows = db.stream(
        "SELECT 1 AS kind, id, line, depth, element, document_type, revision, trigger AS op, "
        "channel, template, outcome, reason, process FROM decisions UNION ALL "
        "SELECT 0, id, line, depth, element, document_type, revision, op, channel, NULL, "
        "NULL, NULL, NULL FROM changes ORDER BY 5, 2"
    )
    change: dict[str, Any] = {"element": None, "op": "delete"}
    expected: frozenset[int] = frozenset()
    seen: set[int] = set()

    def missing() -> Iterator[Violation]:
        for template in sorted(expected - seen):
            yield Violation(
                law,
                change["element"],
                f"change {change['id']} ({change['op']}, line {change['line']})",
                f"a decision for template {template} of {change['document_type']}",
                "no decision for it",
            )

    for row in rows:
        if row["kind"] == 0 or row["element"] != change["element"]:
            if expected != seen:
                yield from missing()
            expected, seen = frozenset(), set()
            change = row if row["kind"] == 0 else {"element": row["element"], "op": "delete"}
            if change["op"] != "delete":
                expected = in_force.templates_of(row["document_type"], row["id"])
            if row["kind"] == 0:
                continue
        if change["op"] == "delete":
            yield Violation(
                law,
                row["element"],
                describe_decision(row),
                "a decision made for an add or a change of its element",
                "no event of the element before it"
                if "id" not in change
                else f"the element's last event before it is its delete (event {change['id']})",
            )
            continue
        template = row["template"]
        if template in seen or template not in expected:
            yield _stray_decision(law, row, change, template in seen)
        seen.add(template)
        if (
            row["op"] != TRIGGER_OF_OP[change["op"]]
            or row["channel"] != change["channel"]
            or row["revision"] != change["revision"]
            or row["line"] != change["line"]
            or row["depth"] != change["depth"]
            or (row["outcome"] in ("started", "queued")) != (row["process"] is not None)
        ):
            yield _unlike_its_change(law, row, change)
    if expected != seen:
        yield from missing()


def _stray_decision(
    law: str, row: dict[str, Any], change: dict[str, Any], again: bool
) -> Violation:
    of = f"change {change['id']}"
    if again:
        expected = f"one decision for template {row['template']} at {of}"
        return Violation(law, row["element"], describe_decision(row), expected, "two")
    expected = f"decisions only for templates of {change['document_type']} existing at {of}"
    happened = f"a decision for template {row['template']}"
    return Violation(law, row["element"], describe_decision(row), expected, happened)


def _unlike_its_change(law: str, row: dict[str, Any], change: dict[str, Any]) -> Violation:
    wanted = {
        "trigger": TRIGGER_OF_OP[change["op"]],
        "channel": change["channel"],
        "revision": change["revision"],
        "line": change["line"],
        "depth": change["depth"],
    }
    got = {"trigger": row["op"], **{k: row[k] for k in wanted if k != "trigger"}}
    differ = [k for k in wanted if wanted[k] != got[k]]
    if not differ:
        return Violation(
            law,
            row["element"],
            describe_decision(row),
            "a process id exactly when the outcome is started or queued",
            describe_outcome(row),
        )
    return Violation(
        law,
        row["element"],
        describe_decision(row),
        ", ".join(f"{k} {wanted[k]}" for k in differ) + f" as change {change['id']}",
        ", ".join(f"{k} {got[k]}" for k in differ),
    )


def every_decision_uses_the_template_version_in_force(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """A decision is made against the template's configuration as it was at that moment."""
    in_force = InForce.load(db)
    whens = [
        f"WHEN d.template = {int(template)} AND {within([span])} THEN {int(version)}"
        for template, span, version in in_force.version_spans()
    ]
    version_then = f"CASE {' '.join(whens)} ELSE 0 END" if whens else "0"
    for row in db.stream(
        "SELECT d.id, d.line, d.element, d.template, d.template_version FROM decisions d "
        f"WHERE d.template_version <> {version_then} ORDER BY d.id"
    ):
        version = in_force.version(int(row["template"]), int(row["id"]))
        yield Violation(
            "every_decision_uses_the_template_version_in_force",
            row["element"],
            describe_decision(row),
            f"template version {version}" if version else "a template existing at that moment",
            f"version {row['template_version']}",
        )
