"""A process starts only from an eligible template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from domain.vocabulary import is_document_type
from projections.database import ReadDatabase
from simulations.checker.inforce import InForce
from simulations.checker.queries import (
    DECISION_COLUMNS,
    LAST_CHANGE,
    decided_against,
    listed,
    missing,
    module_of,
    of_module,
    skipped_against,
    starting,
    starting_by_config,
    starting_with_changes,
    within,
)
from simulations.checker.spec import (
    LEGACY_REST_TYPES,
    LIST_MODULES,
    REFUSED_OPS,
    TRIGGER_BITS,
    Violation,
)


def _legacy_rest(row: dict[str, Any]) -> bool:
    return row["channel"] == "rest" and row["document_type"] in LEGACY_REST_TYPES


def no_inactive_template_starts(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process starts or queues only from an active template, bar CRM's legacy REST."""
    for row, _config in starting_by_config(db, lambda config, _: not config["active"]):
        if _legacy_rest(row):
            continue
        yield decided_against(
            "no_inactive_template_starts",
            row,
            f"skipped, TEMPLATE_INACTIVE (version {row['template_version']} is inactive)",
        )


def templates_start_only_on_their_trigger_bit(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process starts on add only with auto_execute bit 1, on change only with bit 2."""

    def lacks_bit(config: dict[str, Any], trigger: str) -> bool:
        return not int(config["auto_execute"]) & TRIGGER_BITS.get(trigger, 0)

    for row, config in starting_by_config(db, lacks_bit):
        bit = TRIGGER_BITS.get(row["trigger"], 0)
        reason = "NOT_ON_ADD" if row["trigger"] == "add" else "NOT_ON_CHANGE"
        yield decided_against(
            "templates_start_only_on_their_trigger_bit",
            row,
            f"skipped, {reason} (auto_execute {config['auto_execute']} lacks bit {bit})",
        )


def no_process_starts_with_business_processes_off(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process starts only with bizproc on (and lists_processes for Feed) and its container on."""
    in_force = InForce.load(db)
    suspects: list[str] = []
    bizproc_off = in_force.settings_spans(lambda s: not s["bizproc"])
    if bizproc_off:
        suspects.append(f"({within(bizproc_off)})")
    feed_off = in_force.settings_spans(lambda s: not s["lists_processes"])
    if feed_off:
        suspects.append(f"({of_module('feed')} AND ({within(feed_off)}))")
    params: list[str] = []
    for document_type, spans in in_force.container_off_spans().items():
        suspects.append(f"(d.document_type = ? AND ({within(spans)}))")
        params.append(document_type)
    if not suspects:
        return
    for row in starting(db, " OR ".join(suspects), tuple(params)):
        settings = in_force.settings(row["id"])
        document_type, module = row["document_type"], module_of(row["document_type"])
        off = [name for name in ("bizproc",) if not settings[name]]
        if module == "feed" and not settings["lists_processes"]:
            off.append("lists_processes")
        reason = "FEATURE_DISABLED"
        # Lists REST does not look at the list's switch; Drive and the other list channels do.
        switched = module == "disk" or (module in LIST_MODULES and row["channel"] != "rest")
        if not off and switched and not in_force.container_enabled(document_type, row["id"]):
            off, reason = [f"{document_type} bizproc_enabled"], "CONTAINER_DISABLED"
        if off:
            yield decided_against(
                "no_process_starts_with_business_processes_off",
                row,
                f"skipped, {reason} ({', '.join(off)} off)",
            )


def _untuned(config: dict[str, Any]) -> list[str]:
    return [
        c["name"]
        for c in config.get("constants", ())
        if c.get("required") and missing(c.get("value"))
    ]


def no_process_starts_with_untuned_constants(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """In CRM (bar legacy REST) and Drive a start needs its template's required constants set."""
    for row, config in starting_by_config(db, lambda config, _: bool(_untuned(config))):
        if _legacy_rest(row) or module_of(row["document_type"]) in LIST_MODULES:
            continue
        yield decided_against(
            "no_process_starts_with_untuned_constants",
            row,
            f"skipped, CONSTANTS_NOT_TUNED ({', '.join(_untuned(config))} without a value)",
        )


def no_list_process_starts_while_its_list_has_untuned_constants(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """No Feed or list process starts while any auto-start template of its list is untuned."""
    spans = InForce.load(db).untuned_list_spans()
    if not spans:
        return
    where = " OR ".join(
        f"(d.document_type = '{document_type}' AND ({within(stretches)}))"
        for document_type, stretches in sorted(spans.items())
        if is_document_type(document_type)
    )
    for row in starting(db, where):
        yield decided_against(
            "no_list_process_starts_while_its_list_has_untuned_constants",
            row,
            "skipped, CONSTANTS_NOT_TUNED (a template of the list has an untuned constant)",
        )


def lists_rest_writes_are_refused_exactly_when_the_list_is_untuned(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """Lists REST writes are refused (every template skipped) exactly while the list is untuned."""
    law = "lists_rest_writes_are_refused_exactly_when_the_list_is_untuned"
    in_force = InForce.load(db)
    spans = in_force.untuned_list_spans()
    where = " OR ".join(of_module(module) for module in LIST_MODULES).replace("d.", "c.")
    for row in db.stream(
        "SELECT c.id, c.element, c.document_type, c.op, c.line FROM changes c "
        f"WHERE c.channel = 'rest' AND ({where}) ORDER BY c.id"
    ):
        at = int(row["id"])
        settings = in_force.settings(at)
        enabled = settings["bizproc"] and (
            module_of(row["document_type"]) != "feed" or settings["lists_processes"]
        )
        untuned = any(lo < at < hi for lo, hi in spans.get(row["document_type"], ()))
        refused = row["op"] in REFUSED_OPS
        if refused != (enabled and untuned):
            yield Violation(
                law,
                row["element"],
                f"change {at} ({row['op']}, line {row['line']})",
                "refused (a template of the list has an untuned constant)"
                if not refused
                else "written (no template of the list has an untuned constant, or business "
                "processes are off)",
                "written" if not refused else "refused",
            )
    for row in db.stream(
        "SELECT d.* FROM ("
        f"SELECT {DECISION_COLUMNS}, {LAST_CHANGE} AS change_id FROM decisions d "
        f"WHERE d.channel = 'rest' AND ({' OR '.join(of_module(m) for m in LIST_MODULES)})"
        ") d JOIN changes c ON c.id = d.change_id "
        f"WHERE c.op IN {listed(REFUSED_OPS)} AND d.reason != 'CONSTANTS_NOT_TUNED' ORDER BY d.id"
    ):
        yield skipped_against(law, row, "skipped, CONSTANTS_NOT_TUNED (the write was refused)")


def constants_are_checked_before_parameters(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A template skipped for its parameters had its constants, or its list's, tuned."""
    in_force = InForce.load(db)
    spans = in_force.untuned_list_spans()
    for row in db.stream(
        f"SELECT {DECISION_COLUMNS} FROM decisions d "
        "WHERE d.reason IN ('PARAMETERS_MISMATCH', 'PARAMETER_REQUIRED') ORDER BY d.id"
    ):
        module = module_of(row["document_type"])
        if module in LIST_MODULES:
            at = int(row["id"])
            untuned = any(lo < at < hi for lo, hi in spans.get(row["document_type"], ()))
        else:
            config = in_force.configs.get((int(row["template"]), int(row["template_version"])))
            untuned = config is not None and bool(_untuned(config))
        if untuned:
            yield skipped_against(
                "constants_are_checked_before_parameters",
                row,
                "skipped, CONSTANTS_NOT_TUNED (constants come before parameters)",
            )


def lists_rest_ignores_the_switch_and_the_parameters(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """Lists REST does not look at the list's switch, and starts with missing parameters null."""
    lists = " OR ".join(of_module(module) for module in LIST_MODULES)
    for row in db.stream(
        f"SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.channel = 'rest' AND ({lists}) "
        "AND d.reason IN ('CONTAINER_DISABLED', 'PARAMETER_REQUIRED') ORDER BY d.id"
    ):
        yield skipped_against(
            "lists_rest_ignores_the_switch_and_the_parameters",
            row,
            "no skip for the list's switch or a missing parameter through lists REST",
        )


def starts_follow_the_parameters_rule(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """Drive matches values to templates with parameters; required ones need a value or default."""
    configs = InForce.load(db).configs
    where = " OR ".join(of_module(module) for module in ("disk", "feed", "lists"))
    for row in starting_with_changes(db, where):
        config = configs.get((int(row["template"]), int(row["template_version"])))
        if config is None or row["parameters"] is None:
            continue
        given: dict[str, Any] = json.loads(row["parameters"])
        wanted = config["parameters"]
        unset = [
            p["name"]
            for p in wanted
            if p.get("required") and missing(given.get(p["name"])) and missing(p.get("default"))
        ]
        required = f"skipped, PARAMETER_REQUIRED ({', '.join(unset)} has no value or default)"
        if module_of(row["document_type"]) == "disk":
            if bool(given) == bool(wanted):
                if not given or not unset:
                    continue
                expected = required
            else:
                why = (
                    "values given to a template without parameters"
                    if given
                    else "no values given to a template with parameters"
                )
                expected = f"skipped, PARAMETERS_MISMATCH ({why})"
        else:
            if not unset or row["channel"] == "rest":
                continue
            expected = required
        yield decided_against("starts_follow_the_parameters_rule", row, expected)
