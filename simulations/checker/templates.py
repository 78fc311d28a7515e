"""A process starts only from an eligible template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from projections.database import ReadDatabase
from simulations.checker.inforce import InForce
from simulations.checker.queries import (
    decided_against,
    missing,
    module_of,
    of_module,
    starting,
    starting_by_config,
    starting_with_changes,
    within,
)
from simulations.checker.spec import TRIGGER_BITS, Violation


def no_inactive_template_starts(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process starts or queues only from an active template."""
    for row, _config in starting_by_config(db, lambda config, _: not config["active"]):
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
        if not off and module != "crm" and not in_force.container_enabled(document_type, row["id"]):
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
    """A process starts only when every required constant of its template has a value."""
    for row, config in starting_by_config(db, lambda config, _: bool(_untuned(config))):
        yield decided_against(
            "no_process_starts_with_untuned_constants",
            row,
            f"skipped, CONSTANTS_NOT_TUNED ({', '.join(_untuned(config))} without a value)",
        )


def starts_follow_the_parameters_rule(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """Drive starts templates with parameters iff values were given; lists need required ones."""
    configs = InForce.load(db).configs
    where = " OR ".join(of_module(module) for module in ("disk", "feed", "lists"))
    for row in starting_with_changes(db, where):
        config = configs.get((int(row["template"]), int(row["template_version"])))
        if config is None or row["parameters"] is None:
            continue
        given: dict[str, Any] = json.loads(row["parameters"])
        wanted = config["parameters"]
        if module_of(row["document_type"]) == "disk":
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
                if p.get("required") and missing(given.get(p["name"])) and missing(p.get("default"))
            ]
            if not unset:
                continue
            expected = f"skipped, PARAMETER_REQUIRED ({', '.join(unset)} has no value or default)"
        yield decided_against("starts_follow_the_parameters_rule", row, expected)
