"""`autostart decisions|processes` exports and the pandas frames: same rows, every category."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from replaying import START, replay_into

from domain.stores import parse_store
from projections.frames import decisions_frame, processes_frame
from simulations.cli import main
from simulations.replay import open_store

Row = dict[str, Any]
SPEC_REASONS = {
    "CHANNEL_IMPORT", "CHANNEL_INNER", "CHANNEL_ROBOT_CONVERSION", "CHANNEL_SYSTEM",
    "CHANNEL_DIRECT_API", "TRIGGER_STAGE_CHANGE", "NO_CHANGES", "REST_LICENCE", "FEATURE_DISABLED",
    "CONTAINER_DISABLED", "TEMPLATE_INACTIVE", "NOT_ON_ADD", "NOT_ON_CHANGE",
    "PARAMETERS_MISMATCH", "PARAMETER_REQUIRED", "CONSTANTS_NOT_TUNED", "LIMIT_REJECTED",
    "LIMIT_QUEUED", "AUTO_ON_ADD", "AUTO_ON_CHANGE",
}  # fmt: skip
SPEC_CHANNELS = {
    "ui", "lead_conversion", "recurring", "eshop_sync", "rest_item", "open_line", "email", "call",
    "web_form", "rest", "import", "bizproc", "robot", "robot_conversion", "trigger_stage_change",
    "system", "feed", "iblock_api", "sync",
}  # fmt: skip
DECISION_COLUMNS = ["line", "depth", "at", "element", "document_type", "trigger", "channel",
                    "template", "template_version", "outcome", "reason", "process"]  # fmt: skip
PROCESS_COLUMNS = ["process", "element", "document_type", "template", "template_version", "line",
                   "depth", "status", "queued_at", "started_at", "ends_at", "ended_at",
                   "end_reason"]  # fmt: skip
TIMES = ("queued_at", "started_at", "ends_at", "ended_at")


def t(minutes: float, offset_h: int) -> str:
    """The instant `minutes` after the test epoch, written with a UTC offset of `offset_h`."""
    return (
        (START + timedelta(minutes=minutes))
        .astimezone(timezone(timedelta(hours=offset_h)))
        .isoformat()
    )


def op(kind: str, minutes: float, offset_h: int, element: str, channel: str = "ui",
       **more: Any) -> dict[str, Any]:  # fmt: skip
    line = {"op": kind, "at": t(minutes, offset_h), "element": element, **more}
    return line if kind == "delete" else {**line, "channel": channel}


TRAFFIC: list[dict[str, Any]] = [
    {"op": "template", "template": 11, "document_type": "crm.deal", "auto_execute": 3,
     "duration": 3600},
    {"op": "template", "template": 12, "document_type": "crm.deal", "auto_execute": 1,
     "constants": [{"name": "Approver", "required": True}]},
    {"op": "template", "template": 21, "document_type": "crm.lead", "auto_execute": 1,
     "actions": [{"update": {"STATUS_ID": "IN_PROCESS"}}]},
    {"op": "template", "template": 31, "document_type": "feed.iblock_22", "auto_execute": 1,
     "parameters": [{"name": "Reason", "required": True}]},
    {"op": "template", "template": 41, "document_type": "disk.storage_1", "auto_execute": 3},
    op("create", 0, 3, "crm.deal:101"),
    op("update", 1, 0, "crm.deal:101", changed={"A": 1}),
    op("update", 2, -5, "crm.deal:101", "web_form", changed={"A": 2}),  # queued until 60
    op("create", 2, 3, "crm.lead:50"),  # the same instant written with another offset
    {"op": "import", "at": t(3, 3), "document_type": "crm.lead", "file": "leads.csv",
     "elements": ["crm.lead:1", "crm.lead:2"]},
    op("create", 4, 0, "crm.lead:3", "call"),
    op("create", 5, -5, "feed.iblock_22:1", "feed"),
    op("create", 6, 3, "feed.iblock_22:2", parameters={"Reason": "trip"}),
    op("create", 7, 0, "disk.storage_1:1"),
    op("update", 8, -5, "disk.storage_1:1", "sync", changed={"VERSION": 2}),
    op("create", 9, 3, "crm.deal:102", "rest"),
    op("update", 10, 0, "crm.deal:102", "trigger_stage_change", changed={"STAGE_ID": "WON"}),
    op("update", 90, 3, "crm.deal:101", changed={"A": 3}),
    op("update", 95, 0, "crm.deal:101", changed={"A": 4}),  # queued, then dropped
    op("delete", 100, -5, "crm.deal:101"),
    op("create", 110, 3, "crm.deal:103"),
    op("update", 111, 0, "crm.deal:103", changed={"A": 1}),
    op("update", 112, -5, "crm.deal:103", changed={"A": 2}),  # still queued at the end
]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Row]]:
    """A SQLite store (read models not yet folded) and the decisions its replay printed."""
    path = str(tmp_path_factory.mktemp("exports") / "store.db")
    app = open_store(parse_store(path))
    try:
        return path, replay_into(app, TRAFFIC)
    finally:
        app.close()


def export(store: str, out: Path, kind: str, fmt: str = "jsonl", *options: str) -> list[Row]:
    code = main([kind, "--store", store, "--format", fmt, "--out", str(out), *options])
    assert code == 0
    if fmt == "csv":
        with out.open(newline="") as handle:
            return list(csv.DictReader(handle))
    if fmt == "parquet":
        frame = pd.read_parquet(out)
        return [{str(k): None if pd.isna(v) else v for k, v in row.items()} for row in
                frame.astype(object).to_dict("records")]  # fmt: skip
    return [json.loads(line) for line in out.read_text().splitlines()]


def in_utc(column: pd.Series[Any]) -> bool:
    dtype = column.dtype
    return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("kind", ["decisions", "processes"])
def test_jsonl_csv_and_parquet_exports_hold_the_same_rows(
    store: tuple[str, list[Row]], tmp_path: Path, kind: str
) -> None:
    path, _ = store

    rows = {
        fmt: export(path, tmp_path / f"out.{fmt}", kind, fmt) for fmt in ("jsonl", "csv", "parquet")
    }

    columns = DECISION_COLUMNS if kind == "decisions" else PROCESS_COLUMNS
    assert rows["jsonl"]
    assert all(list(row) == columns for row in rows["jsonl"])
    as_text = [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows["jsonl"]]
    assert rows["csv"] == as_text
    assert rows["parquet"] == rows["jsonl"]


def test_exported_decisions_are_the_decisions_the_replay_printed(
    store: tuple[str, list[Row]], tmp_path: Path
) -> None:
    path, printed = store

    exported = export(path, tmp_path / "all.jsonl", "decisions")

    assert [{k: v for k, v in row.items() if k != "document_type"} for row in exported] == printed
    assert all(row["document_type"] == row["element"].split(":")[0] for row in exported)


FILTERS = [
    ["--element", "crm.deal:101"],
    ["--document-type", "crm.lead"],
    ["--template", "11"],
    ["--channel", "web_form"],
    ["--outcome", "queued"],
    ["--reason", "AUTO_ON_CHANGE"],
    ["--since", t(2, 0)],  # 06:02Z: "01:02-05:00" is later though it sorts earlier as text
    ["--until", t(5, -2)],
    ["--since", t(3, 1), "--until", t(90, -5), "--template", "11"],
]


def wanted(decision: Row, options: list[str]) -> bool:
    """The filter stated directly: equal fields, and times compared as instants."""
    given = dict(zip(options[::2], options[1::2], strict=True))
    for option, value in given.items():
        if option == "--since" and instant(decision["at"]) < instant(value):
            return False
        if option == "--until" and instant(decision["at"]) > instant(value):
            return False
        field = option.removeprefix("--").replace("-", "_")
        if option not in ("--since", "--until") and str(decision[field]) != value:
            return False
    return True


@pytest.mark.parametrize("options", FILTERS, ids=" ".join)
def test_every_filter_narrows_an_export_exactly_as_filtering_the_full_export(
    store: tuple[str, list[Row]], tmp_path: Path, options: list[str]
) -> None:
    path, _ = store
    decisions = export(path, tmp_path / "all.jsonl", "decisions")
    processes = export(path, tmp_path / "all-p.jsonl", "processes")
    deciding = {d["process"]: d for d in decisions if d["process"]}

    narrowed = export(path, tmp_path / "some.jsonl", "decisions", "jsonl", *options)
    narrowed_p = export(path, tmp_path / "some-p.jsonl", "processes", "jsonl", *options)

    assert narrowed == [d for d in decisions if wanted(d, options)]
    assert 0 < len(narrowed) < len(decisions)
    assert narrowed_p == [p for p in processes if wanted(deciding[p["process"]], options)]


def test_an_export_with_no_matching_row_is_still_readable_with_its_columns(
    store: tuple[str, list[Row]], tmp_path: Path
) -> None:
    path, _ = store

    main(["decisions", "--store", path, "--format", "parquet", "--out", str(tmp_path / "e.parquet"),
          "--reason", "REST_LICENCE"])  # fmt: skip

    frame = pd.read_parquet(tmp_path / "e.parquet")
    assert frame.empty
    assert list(frame.columns) == DECISION_COLUMNS


def test_decisions_frame_lists_every_spec_category_even_with_zero_rows(
    store: tuple[str, list[Row]],
) -> None:
    path, _ = store

    frame = decisions_frame(path)

    assert list(frame.columns) == DECISION_COLUMNS
    for column in ("line", "depth", "template", "template_version"):
        assert pd.api.types.is_integer_dtype(frame[column]), column
    assert in_utc(frame["at"])
    categories = {c: frame[c].cat.categories for c in ("trigger", "channel", "outcome", "reason")}
    assert set(categories["trigger"]) == {"add", "change"}
    assert set(categories["outcome"]) == {"started", "queued", "rejected", "skipped"}
    assert set(categories["reason"]) == SPEC_REASONS
    assert set(categories["channel"]) == SPEC_CHANNELS
    assert frame["outcome"].value_counts()["rejected"] == 0
    assert frame["reason"].value_counts()["REST_LICENCE"] == 0


def frame_rows(frame: pd.DataFrame) -> list[Row]:
    return [{str(k): None if not isinstance(v, str) and pd.isna(v) else v for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]  # fmt: skip


def test_the_frames_hold_the_exported_rows_with_times_as_utc_instants(
    store: tuple[str, list[Row]], tmp_path: Path
) -> None:
    path, _ = store
    decisions = export(path, tmp_path / "d.jsonl", "decisions")
    processes = export(path, tmp_path / "p.jsonl", "processes")

    by_decision = frame_rows(decisions_frame(path))
    by_process = frame_rows(processes_frame(path).drop(columns=["wait_s", "run_s"]))

    for row in (*decisions, *processes):
        for column in ("at", *TIMES):
            if row.get(column) is not None:
                row[column] = pd.Timestamp(instant(row[column])).tz_convert("UTC")
    assert by_decision == decisions
    assert by_process == processes


def test_processes_frame_has_times_statuses_and_the_wait_and_run_of_each_process(
    store: tuple[str, list[Row]],
) -> None:
    path, _ = store

    frame = processes_frame(path).set_index("process")

    assert list(frame.columns) == [*PROCESS_COLUMNS[1:], "wait_s", "run_s"]
    assert all(in_utc(frame[c]) for c in TIMES)
    assert set(frame["status"]) == {"completed", "terminated", "dropped", "running", "queued"}
    waited = frame.loc["crm.deal:101#3"]
    assert waited["wait_s"] == 58 * 60  # queued at minute 2, a slot freed at minute 60
    assert (waited["started_at"] - waited["queued_at"]).total_seconds() == 58 * 60
    assert frame.loc["crm.deal:101#1", "wait_s"] == 0
    assert frame.loc["crm.deal:101#1", "run_s"] == 3600
    assert frame["run_s"].isna()["crm.deal:101#4"]  # terminated by the delete
    assert frame.loc["crm.deal:101#5", "status"] == "dropped"
    assert frame["wait_s"].isna()["crm.deal:103#3"]  # still waiting


def test_frames_take_the_same_filters_as_the_exports(store: tuple[str, list[Row]]) -> None:
    path, _ = store
    decisions, processes = decisions_frame(path), processes_frame(path)

    queued = decisions_frame(path, outcome="queued")
    leads = processes_frame(path, document_type="crm.lead")

    assert frame_rows(queued) == [r for r in frame_rows(decisions) if r["outcome"] == "queued"]
    assert frame_rows(leads) == [r for r in frame_rows(processes) if r["element"][:8] == "crm.lead"]
    assert len(queued) > 0
    assert len(leads) > 0


@pytest.mark.postgres
def test_exports_and_frames_read_the_same_rows_from_postgres(
    store: tuple[str, list[Row]], postgres_url: str, tmp_path: Path
) -> None:
    path, _ = store
    app = open_store(parse_store(postgres_url))
    try:
        replay_into(app, TRAFFIC)
    finally:
        app.close()

    for kind in ("decisions", "processes"):
        on_postgres = export(postgres_url, tmp_path / f"pg-{kind}.jsonl", kind)
        on_sqlite = export(path, tmp_path / f"sq-{kind}.jsonl", kind)
        assert on_postgres == on_sqlite
    pd.testing.assert_frame_equal(decisions_frame(postgres_url), decisions_frame(path))
    pd.testing.assert_frame_equal(processes_frame(postgres_url), processes_frame(path))
