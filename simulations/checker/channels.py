"""Channels that never start a process."""

from __future__ import annotations

from collections.abc import Iterator

from projections.database import ReadDatabase
from simulations.checker.inforce import InForce
from simulations.checker.queries import (
    DECISION_COLUMNS,
    STARTING,
    decided_against,
    listed,
    module_of,
    of_module,
    skipped_against,
    starting,
    within,
)
from simulations.checker.spec import (
    EXCLUDED_CHANNELS,
    LAST_ID,
    LEGACY_REST_TYPES,
    PROCESS_CHANNELS,
    REST_LICENCES,
    STAGE_GUARDED,
    Violation,
)


def no_process_starts_from_an_import(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """An import (or a duplicate merged by one) never starts or queues a process."""
    for row in starting(db, "d.channel = 'import'"):
        yield decided_against("no_process_starts_from_an_import", row, "skipped, CHANNEL_IMPORT")


def no_process_starts_from_an_excluded_channel(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """Bookkeeping, direct iblock writes, robot conversions, triggers' deal/lead moves: no start."""
    for row in starting(
        db,
        f"d.channel IN {listed(EXCLUDED_CHANNELS)} OR (d.channel = 'trigger_stage_change' "
        f"AND d.document_type IN {listed(STAGE_GUARDED)})",
    ):
        reason = EXCLUDED_CHANNELS.get(row["channel"], "TRIGGER_STAGE_CHANGE")
        yield decided_against(
            "no_process_starts_from_an_excluded_channel",
            row,
            f"skipped, {reason} (channel {row['channel']} never starts a process)",
        )


def no_process_starts_from_a_process_made_change(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A process- or robot-made change starts nothing, unless in CRM with start_bp_within_bp on."""
    # A file a process creates in Drive is a first version, not a process-made change.
    in_force = InForce.load(db)
    option_off = in_force.settings_spans(lambda s: not s["start_bp_within_bp"])
    where = f"NOT {of_module('crm')}" + (f" OR {within(option_off)}" if option_off else "")
    process_files = f"{of_module('disk')} AND d.channel = 'bizproc' AND d.trigger = 'add'"
    for row in starting(
        db, f"d.channel IN {listed(PROCESS_CHANNELS)} AND ({where}) AND NOT ({process_files})"
    ):
        crm = module_of(row["document_type"]) == "crm"
        if crm and in_force.settings(row["id"])["start_bp_within_bp"]:
            continue
        why = "start_bp_within_bp is off" if crm else "start_bp_within_bp is a CRM option only"
        yield decided_against(
            "no_process_starts_from_a_process_made_change",
            row,
            f"skipped, CHANNEL_INNER (a {row['channel']} change; {why})",
        )


def no_process_starts_from_unlicensed_legacy_rest(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """CRM's legacy REST starts processes on cloud only with a paid, nfr or demo licence."""
    in_force = InForce.load(db)
    gated = in_force.settings_spans(
        lambda s: s["edition"] == "cloud" and s["licence"] not in REST_LICENCES
    )
    if not gated:
        return
    where = f"d.channel = 'rest' AND {of_module('crm')} AND ({within(gated)})"
    for row in starting(db, where):
        settings = in_force.settings(row["id"])
        yield decided_against(
            "no_process_starts_from_unlicensed_legacy_rest",
            row,
            f"skipped, REST_LICENCE ({settings['edition']} with licence {settings['licence']})",
        )


def no_process_starts_from_an_empty_update(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """An update whose changed-field set is empty starts nothing, bar CRM's legacy REST."""
    for row in db.stream(
        f"SELECT {DECISION_COLUMNS}, c.id AS change_id FROM changes c JOIN decisions d "
        "ON d.element = c.element AND d.id > c.id AND d.id < COALESCE("
        "(SELECT x.id FROM changes x WHERE x.element = c.element AND x.id > c.id "
        "ORDER BY x.id LIMIT 1), ?) "
        f"WHERE c.op = 'update' AND c.fields = '{{}}' AND {STARTING} "
        f"AND NOT (c.channel = 'rest' AND c.document_type IN {listed(LEGACY_REST_TYPES)}) "
        "ORDER BY d.id",
        (LAST_ID,),
    ):
        yield decided_against(
            "no_process_starts_from_an_empty_update",
            row,
            f"skipped, NO_CHANGES (change {row['change_id']} changed no field)",
        )


def a_robot_change_is_a_process_made_change(db: ReadDatabase, _: int) -> Iterator[Violation]:
    """A robot's change, its "Change stage" action too, is never taken for a trigger's move."""
    for row in db.stream(
        f"SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.channel = 'robot' "
        "AND d.reason = 'TRIGGER_STAGE_CHANGE' ORDER BY d.id"
    ):
        yield skipped_against(
            "a_robot_change_is_a_process_made_change",
            row,
            "decided as a process-made change (CHANNEL_INNER, or as any change with "
            "start_bp_within_bp on), never TRIGGER_STAGE_CHANGE",
        )


def legacy_rest_checks_neither_active_nor_constants_nor_changes(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """CRM's legacy REST never skips a template as inactive, untuned or for an empty update."""
    for row in db.stream(
        f"SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.channel = 'rest' "
        f"AND d.document_type IN {listed(LEGACY_REST_TYPES)} "
        "AND d.reason IN ('TEMPLATE_INACTIVE', 'CONSTANTS_NOT_TUNED', 'NO_CHANGES') ORDER BY d.id"
    ):
        yield skipped_against(
            "legacy_rest_checks_neither_active_nor_constants_nor_changes",
            row,
            "no skip for active, constants or changed fields (CBPDocument::autoStartWorkflows)",
        )


def a_file_a_process_creates_is_decided_like_an_upload(
    db: ReadDatabase, _: int
) -> Iterator[Violation]:
    """A Drive file a process creates is a first version: never skipped as CHANNEL_INNER."""
    for row in db.stream(
        f"SELECT {DECISION_COLUMNS} FROM decisions d WHERE {of_module('disk')} "
        "AND d.channel = 'bizproc' AND d.trigger = 'add' AND d.reason = 'CHANNEL_INNER' "
        "ORDER BY d.id"
    ):
        yield skipped_against(
            "a_file_a_process_creates_is_decided_like_an_upload",
            row,
            "decided like an upload without parameter values, not CHANNEL_INNER",
        )
