"""`autostart portal audit` on the example snapshot: verdicts, evidence, inferences, assumptions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from auditing import audit, verdict
from replaying import autostart, opened

from portal.documents import crm_element, document_type, element
from portal.fields import locale_time, offset

ALL_KINDS = {"started", "expected, unverifiable", "excluded", "anomaly"}


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    folder = tmp_path / "snapshot"
    code, _, err = autostart("portal", "example", str(folder))
    assert code == 0, err
    return folder


def test_the_example_snapshot_gives_every_verdict_kind_anomalies_first(
    snapshot: Path, tmp_path: Path
) -> None:
    summary = audit(snapshot, tmp_path / "audit.db")

    assert {kind for kind, count in summary["counts"].items() if count} == ALL_KINDS
    kinds = [v["verdict"] for v in summary["verdicts"]]
    assert kinds[: summary["counts"]["anomaly"]] == ["anomaly"] * summary["counts"]["anomaly"]
    assert summary["anomalies"] == summary["verdicts"][: len(summary["anomalies"])]
    assert sum(summary["by_template"]["11"].values()) == 6
    assert summary["by_channel"]["import"]["excluded"] == 1


def test_a_started_verdict_carries_its_evidence(snapshot: Path, tmp_path: Path) -> None:
    summary = audit(snapshot, tmp_path / "audit.db")

    deal = verdict(summary, "crm.deal:101", 11, "add")
    lead = verdict(summary, "crm.lead:7", 21, "add")
    feed = verdict(summary, "feed.iblock_22:900", 31, "add")
    spa = verdict(summary, "crm.dynamic_147:1", 51, "add")

    assert deal["verdict"] == "started"
    assert deal["evidence"][0]["workflow"] == "69cb6a02a1b2c3.10100011"
    assert deal["evidence"][0]["user"] == 7
    assert [r["kind"] for r in deal["evidence"][0]["records"]] == ["instance", "activity"]
    # A web form starts with no user: the task and the activity of one workflow, joined.
    assert lead["verdict"] == "started"
    assert lead["channel"] == "web_form"
    assert lead["evidence"][0]["user"] == 0
    assert {r["kind"] for r in lead["evidence"][0]["records"]} == {"task", "activity"}
    # A Feed element's bare DOCUMENT_ID is placed by its template's document type.
    assert feed["verdict"] == "started"
    assert spa["verdict"] == "started"


def test_what_no_source_can_show_is_expected_but_unverifiable(
    snapshot: Path, tmp_path: Path
) -> None:
    summary = audit(snapshot, tmp_path / "audit.db")

    on_change = verdict(summary, "crm.deal:101", 12, "change")
    no_task = verdict(summary, "crm.deal:102", 13, "add")
    drive = verdict(summary, "disk.storage_1:5120", 41, "change")

    assert on_change["verdict"] == "expected, unverifiable"
    assert "on-change templates leave no timeline activity" in on_change["note"]
    assert "lists running workflows only" in on_change["note"]
    assert no_task["verdict"] == "expected, unverifiable"
    assert "no task step" in no_task["note"]
    assert drive["verdict"] == "expected, unverifiable"
    assert "CRM items only" in drive["note"]


def test_exclusions_name_the_reason_and_the_inference_behind_the_channel(
    snapshot: Path, tmp_path: Path
) -> None:
    summary = audit(snapshot, tmp_path / "audit.db")

    imported = verdict(summary, "crm.lead:6", 21, "add")
    made_by_process = verdict(summary, "crm.deal:105", 11, "add")
    inactive = verdict(summary, "crm.deal:102", 14, "add")

    assert (imported["verdict"], imported["reason"]) == ("excluded", "CHANNEL_IMPORT")
    assert imported["rule"] == "channel.import"
    assert imported["inference"]["signal"] == "stage_history_vs_date_create"
    assert imported["inference"]["confidence"] == "strong heuristic"
    assert "72 days earlier" in imported["inference"]["detail"]
    assert made_by_process["reason"] == "CHANNEL_INNER"
    assert made_by_process["inference"]["confidence"] == "weak"
    assert inactive["reason"] == "TEMPLATE_INACTIVE"
    assert inactive["assumption"] == "template.14.active"


def test_a_restore_is_told_from_an_import_by_the_order_of_the_ids(
    snapshot: Path, tmp_path: Path
) -> None:
    summary = audit(snapshot, tmp_path / "audit.db")

    restored = verdict(summary, "crm.deal:104", 11, "add")

    assert restored["verdict"] == "started"
    assert restored["channel"] == "ui"
    assert restored["inference"]["signal"] == "date_create_not_monotone_in_id"
    assert restored["evidence"][0]["user"] == 0


def test_anomalies_say_which_rule_or_which_missing_source(snapshot: Path, tmp_path: Path) -> None:
    summary = audit(snapshot, tmp_path / "audit.db")

    ran_anyway = verdict(summary, "crm.lead:5", 21, "add")
    missing = verdict(summary, "crm.deal:106", 11, "add")

    assert ran_anyway["verdict"] == "anomaly"
    assert ran_anyway["rule"] == "channel.import"
    assert "stage_history_vs_date_create (strong heuristic)" in ran_anyway["note"]
    assert missing["verdict"] == "anomaly"
    assert missing["rule"] == "evidence_missing"
    assert "bizproc.task.list" in missing["note"]


def test_unknown_templates_are_reported_never_dropped(snapshot: Path, tmp_path: Path) -> None:
    summary = audit(snapshot, tmp_path / "audit.db")

    assert [(s["template"], s["element"]) for s in summary["unknown_templates"]] == [
        (907, "crm.deal:101")
    ]
    assert "robot" in summary["unknown_templates"][0]["why"]


def test_every_assumption_is_listed_with_where_it_came_from(snapshot: Path, tmp_path: Path) -> None:
    summary = audit(snapshot, tmp_path / "audit.db", "--set", "portal.licence=nfr")

    sources = {a["key"]: (a["value"], a["source"]) for a in summary["assumptions"]}
    assert sources["portal.licence"] == ("nfr", "--set")
    assert sources["template.14.active"] == (False, "portal.toml")
    assert sources["template.11.active"] == (True, "default")
    assert sources["container.feed.iblock_22.bizproc_enabled"] == (True, "default")
    assert sources["audit.timezone"] == ("+03:00", "portal.toml")


def test_set_overrides_portal_toml_and_turns_starts_into_anomalies(
    snapshot: Path, tmp_path: Path
) -> None:
    summary = audit(
        snapshot,
        tmp_path / "audit.db",
        "--set",
        "template.14.active=true",
        "--set",
        "portal.plan=basic",
    )

    sources = {a["key"]: (a["value"], a["source"]) for a in summary["assumptions"]}
    assert sources["template.14.active"] == (True, "--set")
    assert verdict(summary, "crm.deal:102", 14, "add")["reason"] == "FEATURE_DISABLED"
    ran = verdict(summary, "crm.deal:101", 11, "add")
    assert (ran["verdict"], ran["reason"], ran["rule"]) == (
        "anomaly",
        "FEATURE_DISABLED",
        "feature.off",
    )


def test_the_markdown_summary_puts_anomalies_first(snapshot: Path, tmp_path: Path) -> None:
    code, out, err = autostart("portal", "audit", str(snapshot), "--store", str(tmp_path / "a.db"))

    assert code == 0, err
    assert out.index("## Anomalies") < out.index("## By template") < out.index("## Assumptions")
    assert "**crm.deal:106**" in out
    assert "| portal.plan | professional | portal.toml |" in out
    assert "2 anomaly, 6 started, 7 expected, unverifiable, 16 excluded" in err


def test_every_fetched_record_is_recorded_as_an_observation(snapshot: Path, tmp_path: Path) -> None:
    store = tmp_path / "audit.db"

    summary = audit(snapshot, store)

    with opened(str(store)) as app:
        events = [
            app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 100_000)
        ]
    observed = [e for e in events if type(e).__qualname__ == "Observation.Observed"]
    assert len(observed) == summary["records"] == 45
    methods = {e.method for e in observed}  # type: ignore[attr-defined]
    assert "crm.stagehistory.list" in methods
    assert "lists.get" in methods  # read by no inference, kept as what the portal showed
    assert "disk.file.getVersions" in methods
    first = observed[0]
    assert first.observed_at == "2026-03-31T18:00:00+00:00"  # type: ignore[attr-defined]
    assert first.file == "pages/bizproc.workflow.template.list.jsonl"  # type: ignore[attr-defined]
    audits = [e for e in events if type(e).__qualname__ == "ElementAudit.Audited"]
    assert {e.element for e in audits} >= {"crm.deal:101", "crm.lead:5"}  # type: ignore[attr-defined]


def test_why_explains_a_real_element_with_its_evidence(snapshot: Path, tmp_path: Path) -> None:
    store = tmp_path / "audit.db"
    audit(snapshot, store)

    code, out, err = autostart("why", "crm.deal:101", "--store", str(store), "--template", "11")
    json_code, json_out, _ = autostart("why", "crm.lead:5", "--store", str(store), "--json")

    assert code == 0, err
    assert "inferred channel ui from no_signal (default, [INF])" in out
    assert "portal: STARTED: workflow 69cb6a02a1b2c3.10100011" in out
    assert "evidence: instance 69cb6a02a1b2c3.10100011 (bizproc.workflow.instances)" in out
    assert "pass auto_execute" in out
    assert "on the portal example.bitrix24.com" in out
    assert (
        "workflow 69cb6a02a1b2c4.10100907 (template 907, started 2026-03-31T07:00:01+00:00)" in out
    )
    assert json_code == 0
    story = json.loads(json_out)
    decision = story["changes"][0]["decisions"][0]
    assert decision["portal"]["verdict"] == "anomaly"
    assert story["changes"][0]["inference"]["confidence"] == "strong heuristic"


def test_a_store_that_already_holds_events_is_refused_and_kept(
    snapshot: Path, tmp_path: Path
) -> None:
    store = tmp_path / "audit.db"
    audit(snapshot, store)
    with opened(str(store)) as app:
        before = app.position()

    code, out, err = autostart("portal", "audit", str(snapshot), "--store", str(store))

    assert code == 2
    assert out == ""
    assert "already holds events" in err
    with opened(str(store)) as app:
        assert app.position() == before


def test_an_incomplete_pull_is_refused_saying_to_resume_it(snapshot: Path, tmp_path: Path) -> None:
    (snapshot / "manifest.json").unlink()
    store = tmp_path / "audit.db"

    code, _, err = autostart("portal", "audit", str(snapshot), "--store", str(store))

    assert code == 2
    assert "incomplete" in err
    assert "pull" in err
    assert "nothing was recorded" in err
    assert not store.exists()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("portal.plan=gold", "portal.plan"),
        ("template.x.active=true", "template.x.active"),
        ("audit.timezone=Moscow", "audit.timezone"),
        ("plan", "plan"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_key(
    snapshot: Path, tmp_path: Path, setting: str, named: str
) -> None:
    store = tmp_path / "audit.db"

    code, _, err = autostart(
        "portal", "audit", str(snapshot), "--store", str(store), "--set", setting
    )

    assert code == 2
    assert f"field '{named}'" in err
    assert "Traceback" not in err
    assert not store.exists()


def test_a_bad_portal_toml_is_refused(snapshot: Path, tmp_path: Path) -> None:
    (snapshot / "portal.toml").write_text('[portal]\nlimit_policy = "wait"\n', encoding="utf-8")

    code, _, err = autostart("portal", "audit", str(snapshot), "--store", str(tmp_path / "a.db"))

    assert code == 2
    assert "portal.toml, field 'portal.limit_policy'" in err


def test_example_writes_the_shipped_snapshot_and_refuses_a_used_folder(tmp_path: Path) -> None:
    target = tmp_path / "out"

    first = autostart("portal", "example", str(target))
    again = autostart("portal", "example", str(target))

    assert first[0] == 0
    assert (target / "manifest.json").is_file()
    assert len(list((target / "pages").glob("*.jsonl"))) == 18
    assert again[0] == 2
    assert "not an empty folder" in again[2]


def test_a_snapshot_read_from_a_copy_gives_the_same_verdicts(
    snapshot: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(snapshot, copy)

    first = audit(snapshot, tmp_path / "one.db")
    second = audit(copy, tmp_path / "two.db")

    assert first["verdicts"] == second["verdicts"]


@pytest.mark.parametrize(
    ("document_id", "expected"),
    [
        ("DEAL_1633", "crm.deal:1633"),
        ("LEAD_1", "crm.lead:1"),
        ("DYNAMIC_147_1", "crm.dynamic_147:1"),
        ("SMART_INVOICE_3", "crm.smart_invoice:3"),
        ("QUOTE_777", "crm.quote:777"),
        ("ORDER_5", None),
        ("DEAL_", None),
    ],
)
def test_crm_document_ids_are_parsed_by_prefix(document_id: str, expected: str | None) -> None:
    assert crm_element(document_id) == expected


def test_a_bare_document_id_takes_its_templates_document_type() -> None:
    assert element("2249", "feed.iblock_171") == "feed.iblock_171:2249"
    assert element("777", "disk.storage_3") == "disk.storage_3:777"
    assert element("2249", None) is None
    assert element("2249", "crm.deal") is None


@pytest.mark.parametrize(
    ("module", "entity", "value", "expected"),
    [
        (None, None, ["crm", "CCrmDocumentDeal", "DEAL"], "crm.deal"),
        ("crm", "CCrmDocumentDeal", "DEAL", "crm.deal"),
        (None, None, [None, None, "DEAL"], "crm.deal"),
        (None, None, ["crm", "Dynamic", "DYNAMIC_147"], "crm.dynamic_147"),
        (None, None, ["lists", "BizprocDocument", "iblock_22"], "feed.iblock_22"),
        (
            None,
            None,
            ["lists", "Bitrix\\Lists\\BizprocDocumentLists", "iblock_22"],
            "lists.iblock_22",
        ),
        (None, None, ["disk", "Bitrix\\Disk\\BizProcDocument", "STORAGE_1"], "disk.storage_1"),
        (None, None, ["tasks", "Task", "TASK"], None),
        (None, None, [None, None, "iblock_22"], None),
    ],
)
def test_template_document_types_in_every_documented_form(
    module: str | None, entity: str | None, value: Any, expected: str | None
) -> None:
    assert document_type(module, entity, value) == expected


def test_a_token_a_pull_missed_never_reaches_the_store_or_the_output(
    snapshot: Path, tmp_path: Path
) -> None:
    token = "k3xq9vz7wq1token"
    pages = snapshot / "pages" / "disk.storage.getchildren.1.jsonl"
    text = pages.read_text("utf-8").replace("auth=***", f"auth={token}")
    text = text.replace(
        "https://example.bitrix24.com/docs/file/", f"https://example.bitrix24.com/rest/1/{token}/"
    )
    pages.write_text(text, encoding="utf-8")
    assert token in pages.read_text("utf-8")
    store = tmp_path / "audit.db"

    code, out, err = autostart("portal", "audit", str(snapshot), "--store", str(store), "--json")
    why = autostart("why", "disk.storage_1:5120", "--store", str(store), "--json")

    assert code == 0, err
    assert token not in out + err + why[1] + why[2]
    for path in tmp_path.iterdir():
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


@pytest.mark.postgres
def test_an_audit_into_postgresql_gives_the_same_verdicts_and_why(
    snapshot: Path, tmp_path: Path, postgres_url: str
) -> None:
    on_postgres = audit(snapshot, postgres_url)
    on_sqlite = audit(snapshot, tmp_path / "audit.db")

    code, out, err = autostart("why", "crm.deal:104", "--store", postgres_url)

    assert on_postgres["verdicts"] == on_sqlite["verdicts"]
    assert code == 0, err
    assert "inferred channel ui from date_create_not_monotone_in_id" in out
    assert "portal: STARTED" in out


def test_an_activity_that_names_no_template_is_reported_not_dropped(
    snapshot: Path, tmp_path: Path
) -> None:
    pages = snapshot / "pages" / "crm.activity.list.CRM_BIZPROC_COMMENT.jsonl"
    body = json.loads(pages.read_text("utf-8"))
    body["result"].append(
        {
            "ID": "9004",
            "OWNER_ID": "102",
            "OWNER_TYPE_ID": "2",
            "PROVIDER_ID": "CRM_BIZPROC_COMMENT",
            "CREATED": "2026-03-31T09:40:00+03:00",
            "SETTINGS": [],
        }
    )
    pages.write_text(json.dumps(body) + "\n", encoding="utf-8")

    summary = audit(snapshot, tmp_path / "audit.db")

    (comment,) = [s for s in summary["unmatched_evidence"] if s["workflow"] == "activity 9004"]
    assert comment["element"] == "crm.deal:102"
    assert comment["why"] == "its records do not say which template"


def test_a_later_updated_time_is_a_change_of_unknown_fields_labelled_weak(
    snapshot: Path, tmp_path: Path
) -> None:
    pages = snapshot / "pages" / "crm.item.list.2.jsonl"
    body = json.loads(pages.read_text("utf-8"))
    (deal,) = [item for item in body["result"]["items"] if item["id"] == 102]
    deal["updatedTime"] = "2026-03-31T16:00:00+03:00"
    pages.write_text(json.dumps(body) + "\n", encoding="utf-8")

    summary = audit(snapshot, tmp_path / "audit.db")

    change = verdict(summary, "crm.deal:102", 12, "change")
    assert change["verdict"] == "expected, unverifiable"
    assert change["at"] == "2026-03-31T16:00:00+03:00"
    assert change["inference"]["signal"] == "updated_time"
    assert change["inference"]["confidence"] == "weak"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12/31/2024 11:59:59 pm", "2024-12-31T23:59:59+03:00"),
        ("01/02/2025 12:05:00 am", "2025-01-02T00:05:00+03:00"),
        ("31.12.2024 23:59:59", "2024-12-31T23:59:59+03:00"),
        ("2024-12-31T23:59:59+01:00", None),
        ("13/45/2024 10:00:00 am", None),
        ("", None),
    ],
)
def test_list_dates_in_the_portal_locale(text: str, expected: str | None) -> None:
    at = locale_time(text, offset("+03:00"))

    assert (at.isoformat() if at else None) == expected


def test_an_add_before_since_is_not_missing_from_tasks_and_activities_asked_since(
    snapshot: Path, tmp_path: Path
) -> None:
    manifest = json.loads((snapshot / "manifest.json").read_text("utf-8"))
    manifest["since"] = "2026-03-31T15:30:00+03:00"
    (snapshot / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    summary = audit(snapshot, tmp_path / "audit.db")

    unseen = verdict(summary, "crm.deal:106", 11, "add")
    assert unseen["verdict"] == "expected, unverifiable"
    assert "asked for tasks and activities since 2026-03-31T15:30:00+03:00 only" in unseen["note"]
