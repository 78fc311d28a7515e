"""The exclusion checker: the SPEC's laws stated directly on the ledger, never via the rules.

Settings and template versions are few (one row per set-up line) and are held in memory to
answer "what was in force at event X"; everything else is streamed in ledger order, keeping at
most one element's state while walking rows grouped by element.
"""

from __future__ import annotations

import heapq
import json
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from domain.settings import PortalSettings
from projections.database import ReadDatabase

# The SPEC's tables, restated here so that a fault in the domain's own copy is caught.
EXCLUDED_CHANNELS = {
    "system": "CHANNEL_SYSTEM",
    "iblock_api": "CHANNEL_DIRECT_API",
    "robot_conversion": "CHANNEL_ROBOT_CONVERSION",
}
PROCESS_CHANNELS = ("bizproc", "robot")
STAGE_GUARDED = ("crm.deal", "crm.lead")
REST_LICENCES = ("paid", "nfr", "demo")
BACKGROUND_CHANNELS = ("call", "web_form", "open_line", "email")
TRIGGER_BITS = {"add": 1, "change": 2}
TRIGGER_OF_OP = {"create": "add", "update": "change"}
DOCUMENT_DELETED = "DOCUMENT_DELETED"
NEVER = float("inf")
LAST_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Violation:
    """A law broken: where, which event, what was expected and what happened."""

    law: str
    element: str
    event: str
    expected: str
    happened: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Law = Callable[[ReadDatabase, int], Iterator[Violation]]


# What was in force at an event: portal settings, containers, template versions.

Span = tuple[int, int]  # the notification ids strictly between the two


@dataclass
class InForce:
    """The settings and template versions of the ledger, looked up by notification id."""

    portal_ids: list[int] = field(default_factory=list)
    portal: list[dict[str, Any]] = field(default_factory=list)
    containers: dict[str, tuple[list[int], list[bool]]] = field(default_factory=dict)
    versions: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)
    configs: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    created: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    _expected: dict[tuple[str, int], frozenset[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, db: ReadDatabase) -> InForce:
        found = cls()
        for row in db.query("SELECT id, kind, subject, settings FROM settings ORDER BY id"):
            values = json.loads(row["settings"])
            if row["kind"] == "portal":
                found.portal_ids.append(int(row["id"]))
                found.portal.append(values)
            else:
                ids, enabled = found.containers.setdefault(row["subject"], ([], []))
                ids.append(int(row["id"]))
                enabled.append(bool(values["bizproc_enabled"]))
        for row in db.query(
            "SELECT template, version, id, document_type, config FROM templates ORDER BY id"
        ):
            template, version, at = int(row["template"]), int(row["version"]), int(row["id"])
            ids, numbers = found.versions.setdefault(template, ([], []))
            if not ids:
                made, templates = found.created.setdefault(row["document_type"], ([], []))
                made.append(at)
                templates.append(template)
            ids.append(at)
            numbers.append(version)
            found.configs[(template, version)] = json.loads(row["config"])
        return found

    def settings(self, at: int) -> dict[str, Any]:
        """The portal settings in force just before event `at`."""
        index = bisect_left(self.portal_ids, at)
        return self.portal[index - 1] if index else DEFAULT_SETTINGS

    def container_enabled(self, document_type: str, at: int) -> bool:
        ids, enabled = self.containers.get(document_type, ([], []))
        index = bisect_left(ids, at)
        return enabled[index - 1] if index else True

    def version(self, template: int, at: int) -> int | None:
        ids, numbers = self.versions.get(template, ([], []))
        index = bisect_left(ids, at)
        return numbers[index - 1] if index else None

    def templates_of(self, document_type: str, at: int) -> frozenset[int]:
        """The templates of a document type that existed just before event `at`."""
        made, templates = self.created.get(document_type, ([], []))
        count = bisect_left(made, at)
        key = (document_type, count)
        if key not in self._expected:
            self._expected[key] = frozenset(templates[:count])
        return self._expected[key]

    def settings_spans(self, holds: Callable[[dict[str, Any]], bool]) -> list[Span]:
        """The stretches of the ledger during which the portal settings satisfy `holds`."""
        bounds = [0, *self.portal_ids, LAST_ID]
        states = [DEFAULT_SETTINGS, *self.portal]
        return [(bounds[i], bounds[i + 1]) for i, state in enumerate(states) if holds(state)]

    def container_off_spans(self) -> dict[str, list[Span]]:
        """For each list or storage, the stretches during which its business processes are off."""
        spans: dict[str, list[Span]] = {}
        for document_type, (ids, enabled) in self.containers.items():
            bounds = [*ids, LAST_ID]
            for i, on in enumerate(enabled):
                if not on:
                    spans.setdefault(document_type, []).append((bounds[i], bounds[i + 1]))
        return spans

    def version_spans(self) -> Iterator[tuple[int, Span, int]]:
        """Each template version with the stretch of the ledger during which it was in force."""
        for template, (ids, numbers) in self.versions.items():
            bounds = [*ids, LAST_ID]
            for i, version in enumerate(numbers):
                yield template, (bounds[i], bounds[i + 1]), version


DEFAULT_SETTINGS = PortalSettings().as_dict()


def _within(spans: list[Span], column: str = "d.id") -> str:
    """SQL true for ids inside one of the spans (ids are integers, so inlined safely)."""
    return " OR ".join(f"({column} > {int(lo)} AND {column} < {int(hi)})" for lo, hi in spans)


def _listed(values: Any) -> str:
    """An SQL list of this module's own constant names, e.g. `('bizproc', 'robot')`."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def _of_module(module: str) -> str:
    """SQL true for decisions of a module's document types (no LIKE: `%` means more to psycopg)."""
    return f"substr(d.document_type, 1, {len(module) + 1}) = '{module}.'"


def _missing(value: Any) -> bool:
    return value is None or value == ""


def _module(document_type: str) -> str:
    return document_type.split(".", 1)[0]


def _decision(row: dict[str, Any]) -> str:
    return f"decision {row['id']} (template {row['template']}, line {row['line']})"


def _process(row: dict[str, Any]) -> str:
    return f"process {row['process']} (template {row['template']}, line {row['line']})"


def _outcome(row: dict[str, Any]) -> str:
    return f"{row['outcome']} as {row['process']} ({row['reason']})"


# A decision is made for its element's last change before it.
_LAST_CHANGE = (
    "(SELECT x.id FROM changes x WHERE x.element = d.element AND x.id < d.id "
    "ORDER BY x.id DESC LIMIT 1)"
)
_STARTING = "(d.outcome IN ('started', 'queued') OR d.process IS NOT NULL)"
_DECISION_COLUMNS = (
    "d.id, d.line, d.depth, d.element, d.document_type, d.revision, d.trigger, d.channel, "
    "d.template, d.template_version, d.outcome, d.reason, d.process"
)


def _starting(
    db: ReadDatabase, where: str, params: tuple[Any, ...] = ()
) -> Iterator[dict[str, Any]]:
    """Decisions that started or queued a process and match `where`, in ledger order."""
    return db.stream(
        f"SELECT {_DECISION_COLUMNS} FROM decisions d WHERE {_STARTING} AND ({where}) "
        "ORDER BY d.id",
        params,
    )


def _starting_with_changes(db: ReadDatabase, where: str) -> Iterator[dict[str, Any]]:
    """Starting decisions matching `where`, in ledger order, with their change's op and values."""
    return db.stream(
        "SELECT d.*, c.op, c.fields, c.parameters FROM ("
        f"SELECT {_DECISION_COLUMNS}, {_LAST_CHANGE} AS change_id FROM decisions d "
        f"WHERE {_STARTING} AND ({where})) d "
        "LEFT JOIN changes c ON c.id = d.change_id ORDER BY d.id"
    )


def _starting_by_config(
    db: ReadDatabase, offends: Callable[[dict[str, Any], str], bool]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Starting decisions whose template configuration and trigger `offends`, with the config.

    Template versions are few: the (template, version, trigger) groups are checked once, and
    only the decisions of offending groups are read one by one.
    """
    configs = InForce.load(db).configs
    groups = db.query(
        "SELECT d.template, d.template_version, d.trigger FROM decisions d "
        f"WHERE {_STARTING} GROUP BY d.template, d.template_version, d.trigger"
    )
    offending = [
        g
        for g in groups
        if (config := configs.get((int(g["template"]), int(g["template_version"])))) is not None
        and offends(config, g["trigger"])
    ]
    if not offending:
        return
    where = " OR ".join(
        f"(d.template = {int(g['template'])} AND d.template_version = "
        f"{int(g['template_version'])} AND d.trigger = ?)"
        for g in offending
    )
    for row in _starting(db, where, tuple(g["trigger"] for g in offending)):
        yield row, configs[(int(row["template"]), int(row["template_version"]))]


# Channels that never start a process.


def no_process_starts_from_an_import(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """An import (or a duplicate merged by one) never starts or queues a process."""
    for row in _starting(db, "d.channel = 'import'"):
        yield Violation(
            "no_process_starts_from_an_import",
            row["element"],
            _decision(row),
            "skipped, CHANNEL_IMPORT",
            _outcome(row),
        )


def no_process_starts_from_an_excluded_channel(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """System bookkeeping, direct iblock writes, robot conversions and stage moves start nothing."""
    for row in _starting(
        db,
        f"d.channel IN {_listed(EXCLUDED_CHANNELS)} OR (d.channel = 'robot_stage_change' "
        f"AND d.document_type IN {_listed(STAGE_GUARDED)})",
    ):
        reason = EXCLUDED_CHANNELS.get(row["channel"], "ROBOT_STAGE_CHANGE")
        yield Violation(
            "no_process_starts_from_an_excluded_channel",
            row["element"],
            _decision(row),
            f"skipped, {reason} (channel {row['channel']} never starts a process)",
            _outcome(row),
        )


def no_process_starts_from_a_process_made_change(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process- or robot-made change starts nothing, unless in CRM with start_bp_within_bp on."""
    in_force = InForce.load(db)
    option_off = in_force.settings_spans(lambda s: not s["start_bp_within_bp"])
    where = f"NOT {_of_module('crm')}" + (f" OR {_within(option_off)}" if option_off else "")
    for row in _starting(db, f"d.channel IN {_listed(PROCESS_CHANNELS)} AND ({where})"):
        crm = _module(row["document_type"]) == "crm"
        if crm and in_force.settings(row["id"])["start_bp_within_bp"]:
            continue
        why = "start_bp_within_bp is off" if crm else "start_bp_within_bp is a CRM option only"
        yield Violation(
            "no_process_starts_from_a_process_made_change",
            row["element"],
            _decision(row),
            f"skipped, CHANNEL_INNER (a {row['channel']} change; {why})",
            _outcome(row),
        )


def no_process_starts_from_unlicensed_legacy_rest(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """CRM's legacy REST starts processes on cloud only with a paid, nfr or demo licence."""
    in_force = InForce.load(db)
    gated = in_force.settings_spans(
        lambda s: s["edition"] == "cloud" and s["licence"] not in REST_LICENCES
    )
    if not gated:
        return
    where = f"d.channel = 'rest' AND {_of_module('crm')} AND ({_within(gated)})"
    for row in _starting(db, where):
        settings = in_force.settings(row["id"])
        yield Violation(
            "no_process_starts_from_unlicensed_legacy_rest",
            row["element"],
            _decision(row),
            f"skipped, REST_LICENCE ({settings['edition']} with licence {settings['licence']})",
            _outcome(row),
        )


def no_process_starts_from_an_empty_update(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """An update whose changed-field set is empty starts nothing."""
    for row in db.stream(
        f"SELECT {_DECISION_COLUMNS}, c.id AS change_id FROM changes c JOIN decisions d "
        "ON d.element = c.element AND d.id > c.id AND d.id < COALESCE("
        "(SELECT x.id FROM changes x WHERE x.element = c.element AND x.id > c.id "
        "ORDER BY x.id LIMIT 1), ?) "
        f"WHERE c.op = 'update' AND c.fields = '{{}}' AND {_STARTING} ORDER BY d.id",
        (LAST_ID,),
    ):
        yield Violation(
            "no_process_starts_from_an_empty_update",
            row["element"],
            _decision(row),
            f"skipped, NO_CHANGES (change {row['change_id']} changed no field)",
            _outcome(row),
        )


# Every add or change is decided once per template, against what was in force.


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
                _decision(row),
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
        return Violation(law, row["element"], _decision(row), expected, "two")
    expected = f"decisions only for templates of {change['document_type']} existing at {of}"
    happened = f"a decision for template {row['template']}"
    return Violation(law, row["element"], _decision(row), expected, happened)


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
            _decision(row),
            "a process id exactly when the outcome is started or queued",
            _outcome(row),
        )
    return Violation(
        law,
        row["element"],
        _decision(row),
        ", ".join(f"{k} {wanted[k]}" for k in differ) + f" as change {change['id']}",
        ", ".join(f"{k} {got[k]}" for k in differ),
    )


def every_decision_uses_the_template_version_in_force(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """A decision is made against the template's configuration as it was at that moment."""
    in_force = InForce.load(db)
    whens = [
        f"WHEN d.template = {int(template)} AND {_within([span])} THEN {int(version)}"
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
            _decision(row),
            f"template version {version}" if version else "a template existing at that moment",
            f"version {row['template_version']}",
        )


# A process starts only from an eligible template.


def no_inactive_template_starts(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process starts or queues only from an active template."""
    for row, _config in _starting_by_config(db, lambda config, _: not config["active"]):
        yield Violation(
            "no_inactive_template_starts",
            row["element"],
            _decision(row),
            f"skipped, TEMPLATE_INACTIVE (version {row['template_version']} is inactive)",
            _outcome(row),
        )


def templates_start_only_on_their_trigger_bit(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process starts on add only with auto_execute bit 1, on change only with bit 2."""

    def lacks_bit(config: dict[str, Any], trigger: str) -> bool:
        return not int(config["auto_execute"]) & TRIGGER_BITS.get(trigger, 0)

    for row, config in _starting_by_config(db, lacks_bit):
        bit = TRIGGER_BITS.get(row["trigger"], 0)
        reason = "NOT_ON_ADD" if row["trigger"] == "add" else "NOT_ON_CHANGE"
        yield Violation(
            "templates_start_only_on_their_trigger_bit",
            row["element"],
            _decision(row),
            f"skipped, {reason} (auto_execute {config['auto_execute']} lacks bit {bit})",
            _outcome(row),
        )


def no_process_starts_with_business_processes_off(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process starts only with bizproc on (and lists_processes for Feed) and its container on."""
    in_force = InForce.load(db)
    suspects: list[str] = []
    bizproc_off = in_force.settings_spans(lambda s: not s["bizproc"])
    if bizproc_off:
        suspects.append(f"({_within(bizproc_off)})")
    feed_off = in_force.settings_spans(lambda s: not s["lists_processes"])
    if feed_off:
        suspects.append(f"({_of_module('feed')} AND ({_within(feed_off)}))")
    params: list[str] = []
    for document_type, spans in in_force.container_off_spans().items():
        suspects.append(f"(d.document_type = ? AND ({_within(spans)}))")
        params.append(document_type)
    if not suspects:
        return
    for row in _starting(db, " OR ".join(suspects), tuple(params)):
        settings = in_force.settings(row["id"])
        document_type, module = row["document_type"], _module(row["document_type"])
        off = [name for name in ("bizproc",) if not settings[name]]
        if module == "feed" and not settings["lists_processes"]:
            off.append("lists_processes")
        reason = "FEATURE_DISABLED"
        if not off and module != "crm" and not in_force.container_enabled(document_type, row["id"]):
            off, reason = [f"{document_type} bizproc_enabled"], "CONTAINER_DISABLED"
        if off:
            yield Violation(
                "no_process_starts_with_business_processes_off",
                row["element"],
                _decision(row),
                f"skipped, {reason} ({', '.join(off)} off)",
                _outcome(row),
            )


def _untuned(config: dict[str, Any]) -> list[str]:
    return [
        c["name"]
        for c in config.get("constants", ())
        if c.get("required") and _missing(c.get("value"))
    ]


def no_process_starts_with_untuned_constants(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process starts only when every required constant of its template has a value."""
    for row, config in _starting_by_config(db, lambda config, _: bool(_untuned(config))):
        yield Violation(
            "no_process_starts_with_untuned_constants",
            row["element"],
            _decision(row),
            f"skipped, CONSTANTS_NOT_TUNED ({', '.join(_untuned(config))} without a value)",
            _outcome(row),
        )


def starts_follow_the_parameters_rule(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """Drive starts templates with parameters iff values were given; lists need required ones."""
    configs = InForce.load(db).configs
    where = " OR ".join(_of_module(module) for module in ("disk", "feed", "lists"))
    for row in _starting_with_changes(db, where):
        config = configs.get((int(row["template"]), int(row["template_version"])))
        if config is None or row["parameters"] is None:
            continue
        given: dict[str, Any] = json.loads(row["parameters"])
        wanted = config["parameters"]
        if _module(row["document_type"]) == "disk":
            if bool(given) == bool(wanted):
                continue
            why = (
                "values given to a template without parameters"
                if given
                else "no values given to a template with parameters"
            )
            expected = f"skipped, PARAMETERS_MISMATCH ({why})"
        else:
            unset = [
                p["name"]
                for p in wanted
                if p.get("required")
                and _missing(given.get(p["name"]))
                and _missing(p.get("default"))
            ]
            if not unset:
                continue
            expected = f"skipped, PARAMETER_REQUIRED ({', '.join(unset)} has no value or default)"
        yield Violation(
            "starts_follow_the_parameters_rule",
            row["element"],
            _decision(row),
            expected,
            _outcome(row),
        )


# The simultaneous limit, the queue and deletions, on the processes' event ids.


def never_more_running_than_the_limit(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """At each start (bar on-premise background ones) fewer than the limit run on the document."""
    in_force = InForce.load(db)
    element: str | None = None
    running: list[float] = []  # the ended ids (NEVER while running) of the earlier starts
    for row in db.stream(
        "SELECT p.process, p.element, p.template, p.line, p.started_id, p.ended_id, d.channel "
        "FROM processes p JOIN decisions d ON d.id = p.decision "
        "WHERE p.started_id IS NOT NULL ORDER BY p.element, p.started_id"
    ):
        if row["element"] != element:
            element, running = row["element"], []
        started = int(row["started_id"])
        while running and running[0] < started:
            heapq.heappop(running)
        settings = in_force.settings(started)
        limit = int(settings["limit_simultaneous_processes"])
        background = settings["edition"] == "on_premise" and row["channel"] in BACKGROUND_CHANNELS
        if limit and not background and len(running) >= limit:
            yield Violation(
                "never_more_running_than_the_limit",
                row["element"],
                f"{_process(row)} started at event {started}",
                f"fewer than {limit} running on the document at its start",
                f"{len(running)} already running",
            )
        ended = row["ended_id"]
        heapq.heappush(running, NEVER if ended is None else int(ended))


def queued_instances_start_first_in_first_out(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A document's queued instances leave the queue in the order they were queued."""
    element: str | None = None
    ahead, ahead_process = 0.0, ""  # the queued-before instance that left the queue last
    for row in db.stream(
        "SELECT process, element, template, line, decision, status, started_id, ended_id "
        "FROM processes WHERE queued_at IS NOT NULL ORDER BY element, decision"
    ):
        if row["element"] != element:
            element, ahead, ahead_process = row["element"], 0.0, ""
        started = row["started_id"]
        if started is not None and ahead > started:
            yield Violation(
                "queued_instances_start_first_in_first_out",
                row["element"],
                f"{_process(row)} started at event {started}",
                f"{ahead_process}, queued before it, to start first",
                "it started while "
                + ahead_process
                + (" was still queued" if ahead == NEVER else f" waited until event {int(ahead)}"),
            )
        left = started if started is not None else row["ended_id"]
        left_at = NEVER if left is None else float(left)
        if left_at > ahead:
            ahead, ahead_process = left_at, str(row["process"])


def every_queued_instance_is_started_or_accounted_for(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """A queued instance starts, is dropped when its document is deleted, or waits at the limit."""
    law = "every_queued_instance_is_started_or_accounted_for"
    in_force = InForce.load(db)
    end = in_force.settings(LAST_ID)
    limit = int(end["limit_simultaneous_processes"])
    for row in db.stream(
        "SELECT q.process, q.element, q.template, q.line, q.status, q.ended_id, q.end_reason, "
        "(SELECT COUNT(*) FROM processes r WHERE r.element = q.element "
        "AND r.status = 'running') AS running, "
        "(SELECT MIN(c.id) FROM changes c WHERE c.element = q.element AND c.op = 'delete') "
        "AS deleted, "
        "(SELECT MIN(c.id) FROM changes c WHERE c.element = q.element AND c.id > q.ended_id) "
        "AS next_change "
        "FROM processes q WHERE q.queued_at IS NOT NULL AND q.started_id IS NULL "
        "ORDER BY q.decision"
    ):
        event = _process(row)
        if row["status"] == "queued":
            if row["deleted"] is not None:
                yield Violation(
                    law,
                    row["element"],
                    event,
                    f"dropped, {DOCUMENT_DELETED}, when the document was deleted",
                    f"still queued after the delete at event {row['deleted']}",
                )
            elif not limit or row["running"] < limit:
                yield Violation(
                    law,
                    row["element"],
                    event,
                    "started once a slot was free"
                    + (f" (limit {limit})" if limit else " (no limit in force)"),
                    f"still queued at the end with {row['running']} running",
                )
        elif row["status"] == "dropped":
            deleting = row["next_change"] is not None and row["next_change"] == row["deleted"]
            if row["end_reason"] != DOCUMENT_DELETED or not deleting:
                yield Violation(
                    law,
                    row["element"],
                    f"{event} dropped at event {row['ended_id']}",
                    f"dropped only with {DOCUMENT_DELETED}, when its document is deleted",
                    f"dropped with {row['end_reason']}"
                    + ("" if deleting else ", with no delete of the document next"),
                )
        else:
            yield Violation(
                law,
                row["element"],
                event,
                "started, dropped, or still queued",
                f"{row['status']} without having started",
            )


def nothing_runs_or_waits_on_a_deleted_document(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """After a delete, none of the document's processes is running or queued."""
    for row in db.stream(
        "SELECT c.id AS deleted, p.process, p.element, p.template, p.line, p.status, p.ended_id "
        "FROM changes c JOIN processes p ON p.element = c.element "
        "WHERE c.op = 'delete' AND (p.ended_id IS NULL OR p.ended_id > c.id) "
        "ORDER BY c.id, p.decision"
    ):
        yield Violation(
            "nothing_runs_or_waits_on_a_deleted_document",
            row["element"],
            _process(row),
            f"terminated or dropped ({DOCUMENT_DELETED}) by the delete at event {row['deleted']}",
            f"{row['status']}"
            + ("" if row["ended_id"] is None else f" until event {row['ended_id']}"),
        )


# Cascades.


def cascades_end_within_the_bound(db: ReadDatabase, max_depth: int) -> Iterator[Violation]:
    """No change is applied and no decision made deeper than the cascade bound."""
    for row in db.stream(
        "SELECT 'decision' AS kind, id, element, depth FROM decisions WHERE depth > ? "
        "UNION ALL SELECT 'change', id, element, depth FROM changes WHERE depth > ? ORDER BY 2",
        (max_depth, max_depth),
    ):
        yield Violation(
            "cascades_end_within_the_bound",
            row["element"],
            f"{row['kind']} {row['id']}",
            f"nothing deeper than {max_depth}",
            f"a {row['kind']} at depth {row['depth']}",
        )


def process_made_decisions_have_a_causing_process(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A decision deeper than 0 is of a change made by a process that had started, one above."""
    law = "process_made_decisions_have_a_causing_process"
    for row in db.stream(
        "SELECT d.*, c.depth AS change_depth, c.cause, c.channel AS change_channel, "
        "p.started_id, p.depth AS cause_depth FROM ("
        f"SELECT d.id, d.line, d.depth, d.element, d.template, {_LAST_CHANGE} AS change_id "
        "FROM decisions d WHERE d.depth > 0) d "
        "LEFT JOIN changes c ON c.id = d.change_id "
        "LEFT JOIN processes p ON p.process = c.cause ORDER BY d.id"
    ):
        expected = f"a change at depth {row['depth']} made by a process started before it"
        if row["change_id"] is None or row["cause"] is None:
            happened = (
                "no change of the element before it"
                if row["change_id"] is None
                else (f"change {row['change_id']} (depth {row['change_depth']}) names no process")
            )
        elif row["started_id"] is None or row["started_id"] > row["change_id"]:
            happened = f"change {row['change_id']} names {row['cause']}, not started before it"
        elif row["cause_depth"] + 1 != row["depth"] or row["change_channel"] != "bizproc":
            happened = (
                f"change {row['change_id']} via {row['change_channel']} by {row['cause']} "
                f"at depth {row['cause_depth']}"
            )
        else:
            continue
        yield Violation(law, row["element"], _decision(row), expected, happened)


LAWS: tuple[Law, ...] = (
    no_process_starts_from_an_import,
    no_process_starts_from_an_excluded_channel,
    no_process_starts_from_a_process_made_change,
    no_process_starts_from_unlicensed_legacy_rest,
    no_process_starts_from_an_empty_update,
    every_change_gets_one_decision_per_template,
    every_decision_uses_the_template_version_in_force,
    no_inactive_template_starts,
    templates_start_only_on_their_trigger_bit,
    no_process_starts_with_business_processes_off,
    no_process_starts_with_untuned_constants,
    starts_follow_the_parameters_rule,
    never_more_running_than_the_limit,
    queued_instances_start_first_in_first_out,
    every_queued_instance_is_started_or_accounted_for,
    nothing_runs_or_waits_on_a_deleted_document,
    cascades_end_within_the_bound,
    process_made_decisions_have_a_causing_process,
)


def check_store(db: ReadDatabase, *, max_depth: int = 20) -> list[Violation]:
    """Every violation of every law, law by law, in ledger order."""
    return [violation for law in LAWS for violation in law(db, max_depth)]
