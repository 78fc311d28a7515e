"""An audit of a snapshot: read it whole, derive and replay its traffic, judge, record.

Nothing is recorded until the whole snapshot has been read and checked; the replay and the
observations go into the store together or not at all.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate

from domain.application import AutostartApplication
from domain.stores import parse_store
from portal.assumptions import Assumption, read_assumptions
from portal.collected import Collected
from portal.collected_evidence import collected_record, poll_starts
from portal.contents import Contents, read_contents
from portal.derive import Derived, derive
from portal.evidence import starts
from portal.fields import offset
from portal.observations import ElementAudit, Observation, PortalAudit
from portal.records import template_row
from portal.snapshot import Manifest, read_manifest
from portal.verdicts import EXCLUDED, VERDICTS, Findings, Verdict, judge
from projections.database import ReadDatabase
from projections.locks import writing
from projections.runner import catch_up
from projections.suggestions import StoreConfigurations
from projections.written import WrittenPages
from simulations.replay import replay


class StoreNotEmptyError(Exception):
    """An audit goes into a store of its own: the derived traffic starts from nothing."""


@dataclass
class Prepared:
    """A snapshot read and checked whole, its traffic derived: nothing recorded yet."""

    folder: Path | None
    contents: Contents
    derived: Derived
    assumptions: list[Assumption]
    edition: str
    durations: dict[int, int]
    collected: Collected | None = None

    @property
    def traffic(self) -> list[str]:
        return [json.dumps(line, ensure_ascii=False) for line in self.derived.lines]


@dataclass
class AuditResult:
    prepared: Prepared
    findings: Findings

    def summary(self) -> dict[str, Any]:
        return summarise(self.prepared, self.findings)


def prepare(
    folder: Path | None, settings: list[str], collected: Collected | None = None
) -> Prepared:
    """Reads the snapshot (or none), the assumptions and what a collector recorded (or none);
    raises SnapshotError naming file, page, field, or NoConfigurationError."""
    if folder is not None:
        manifest = read_manifest(folder)
    elif collected is not None:
        manifest = collected_manifest(collected)
    else:
        raise NoConfigurationError("give a snapshot DIR, a collector's store, or both")
    given = read_assumptions(folder, settings)
    tz = given.zone or _zone(manifest.pulled_at.utcoffset())
    if folder is not None:
        contents = read_contents(folder, manifest, tz)
    else:
        rows = collected.templates if collected is not None else None
        contents = Contents(manifest, templates=[template_row(r) for r in rows or []])
    derived = derive(contents, given, collected)
    modelled = sorted(i for i, t in derived.templates.items() if t.unmodelled is None)
    containers = sorted(
        {
            t.document_type
            for t in derived.templates.values()
            if t.unmodelled is None and t.document_type and not t.document_type.startswith("crm.")
        }
    )
    portal = given.effective_portal()
    durations = {
        template: int(given.templates.get(template, {}).get("duration", 0)) for template in modelled
    }
    return Prepared(
        folder,
        contents,
        derived,
        given.listed(tz, modelled, containers),
        str(portal["edition"]),
        durations,
        collected,
    )


def audit_snapshot(
    folder: str | Path, settings: list[str] | None = None, store: str = "memory:"
) -> AuditResult:
    """Audits a snapshot folder into `store` (a new one; memory by default): for notebooks."""
    prepared = prepare(Path(folder), settings or [])
    app = AutostartApplication(parse_store(store))
    try:
        return run(prepared, app)
    finally:
        app.close()


class NoConfigurationError(Exception):
    """Nothing to take the portal's templates from."""


def collected_manifest(collected: Collected) -> Manifest:
    """A collector's store audited alone: its template list is the configuration, and the
    audit is as of the last thing it recorded."""
    if collected.templates is None:
        raise NoConfigurationError(
            f"{collected.store} holds no template list (a collector records one at its start "
            "when it polls, with --webhook): give a snapshot DIR for the configuration"
        )
    at = collected.latest or datetime.now(UTC)
    types = sorted({c.document_type.removeprefix("crm.") for c in collected.changes})
    client = {"name": "autostart collector", "store": collected.store}
    return Manifest(collected.portal or "unknown portal", at, None, tuple(types), (), client)


def _zone(delta: Any) -> timezone:
    return timezone(delta) if delta is not None else offset("+00:00")


def run(prepared: Prepared, app: AutostartApplication) -> AuditResult:
    """Replays the derived traffic into `app`'s store, judges, and records the observations.

    Raises StoreNotEmptyError (recording nothing) when the store already holds events.
    """
    if app.position() != 0:
        raise StoreNotEmptyError(
            f"{app.store.describe()} already holds events: audit a snapshot into a new store"
        )

    db = ReadDatabase(app.store)
    try:
        with WrittenPages() as written:
            replay(
                app,
                prepared.traffic,
                None,
                source=f"portal audit {prepared.contents.manifest.portal}",
                on_stored=written.stored,
            )
            catch_up(app, db, written=written)
        decisions = db.query("SELECT * FROM decisions ORDER BY id")
        found = starts(prepared.contents, prepared.derived.templates)
        if prepared.collected is not None:
            found = poll_starts(prepared.collected, found)
        findings = judge(
            decisions,
            prepared.derived,
            found,
            prepared.contents,
            prepared.edition,
            prepared.durations,
        )
        attach_verdict_fixes(db, findings.verdicts, decisions)
    finally:
        db.close()
    result = AuditResult(prepared, findings)
    _record(app, result)
    return result


def attach_verdict_fixes(
    db: ReadDatabase, verdicts: list[Verdict], decisions: list[dict[str, Any]]
) -> None:
    """Each excluded verdict gets what would have started its decision, as `why` says it."""
    by_id = {d["id"]: d for d in decisions}
    configurations: dict[str, StoreConfigurations] = {}
    for verdict in verdicts:
        if verdict.verdict != EXCLUDED or verdict.decision_id is None:
            continue
        decision = by_id[verdict.decision_id]
        element = decision["element"]
        if element not in configurations:
            configurations[element] = StoreConfigurations(db, element)
        fixes = configurations[element].fixes(decision["revision"], decision["template"])
        if fixes is not None:
            fixes.pop("decision_id")  # a store position: the same audit elsewhere differs
        verdict.fixes = fixes


def _record(app: AutostartApplication, result: AuditResult) -> None:
    prepared, findings = result.prepared, result.findings
    manifest = prepared.contents.manifest
    at = manifest.pulled_at
    aggregates: list[Aggregate] = []
    seen = set()
    for record in prepared.contents.observed:
        observation = Observation.observe(
            manifest.portal,
            record.request.method,
            record.request.params,
            (record.request.file, record.page, record.path),
            record.data,
            at,
        )
        if observation.id not in seen:  # a record shown twice (shifted paging) is one fact
            seen.add(observation.id)
            aggregates.append(observation)
    for change in prepared.collected.changes if prepared.collected else []:
        observation = Observation.observe(
            manifest.portal,
            "collector delivery",
            {"store": prepared.collected.store if prepared.collected else ""},
            ("collector", change.number, f"delivery {change.number}"),
            collected_record(change),
            change.received,
        )
        aggregates.append(observation)
    verdicts: dict[str, list[dict[str, Any]]] = {}
    for verdict in findings.verdicts:
        verdicts.setdefault(verdict.element, []).append(verdict.as_dict())
    unplaced: dict[str, list[dict[str, Any]]] = {}
    for start in (*findings.unknown_templates, *findings.unmatched):
        if start.get("element"):
            unplaced.setdefault(start["element"], []).append(start)
    inferred = prepared.derived.by_element()
    for element in sorted(verdicts.keys() | unplaced.keys() | prepared.derived.elements):
        aggregates.append(
            ElementAudit.conclude(
                element,
                manifest.portal,
                at,
                verdicts.get(element, []),
                inferred.get(element, []),
                unplaced.get(element, []),
            )
        )
    summary = result.summary()
    summary.pop("verdicts")
    aggregates.append(PortalAudit.conclude(summary, at))
    position = app.position()
    with writing(app.store):
        try:
            app.save(*aggregates)
        except BaseException:
            app.truncate(position)
            raise
    if app.store.kind != "memory":
        db = ReadDatabase(app.store)
        try:
            catch_up(app, db)
        finally:
            db.close()


def _order(name: str) -> tuple[int, str]:
    """Template ids in numeric order, names in alphabetical order."""
    return (int(name), "") if name.isdigit() else (1 << 62, name)


def summarise(prepared: Prepared, findings: Findings) -> dict[str, Any]:
    """The audit as one JSON document: counts by template, type and channel; anomalies first."""
    manifest = prepared.contents.manifest
    verdicts = [v.as_dict() for v in findings.verdicts]

    def counts(key: str) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = {}
        for verdict in verdicts:
            table.setdefault(str(verdict[key]), Counter())[verdict["verdict"]] += 1
        return {name: {v: table[name][v] for v in VERDICTS} for name in sorted(table, key=_order)}

    total = Counter(v["verdict"] for v in verdicts)
    signals = Counter(i.signal for i in prepared.derived.inferences.values())
    return {
        "portal": manifest.portal,
        "pulled_at": manifest.pulled_at.isoformat(),
        "client": manifest.client,
        "records": len(prepared.contents.observed),
        "traffic_lines": len(prepared.derived.lines),
        "counts": {v: total[v] for v in VERDICTS},
        "by_template": counts("template"),
        "by_type": counts("document_type"),
        "by_channel": counts("channel"),
        "anomalies": [v for v in verdicts if v["verdict"] == "anomaly"],
        "unknown_templates": findings.unknown_templates,
        "unmatched_evidence": findings.unmatched,
        "unmodelled_templates": [
            {"template": t.id, "name": t.name, "why": t.unmodelled}
            for t in prepared.derived.templates.values()
            if t.unmodelled is not None
        ],
        "inferences": dict(sorted(signals.items())),
        "collected": prepared.collected.summary() if prepared.collected else None,
        "assumptions": [a.as_dict() for a in prepared.assumptions],
        "verdicts": verdicts,
    }
