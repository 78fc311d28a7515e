"""A pull of the test portal, audited: `portal pull` then `portal audit` then `why`, end to end."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from auditing import audit, verdict
from fake_portal import EXAMPLE, FakePortal, example_data
from replaying import autostart

FAST = ("--backoff", "0", "--rate", "1000")
SINCE = "2026-03-31T10:30:00+03:00"


@pytest.fixture
def fake() -> Iterator[FakePortal]:
    portal = FakePortal()
    yield portal
    portal.close()


def pull(fake: FakePortal, out: Path, *options: str) -> Path:
    code, _, err = autostart(
        "portal", "pull", "--webhook", fake.url, "--out", str(out), *FAST, *options
    )
    assert code == 0, err
    assert fake.token not in err
    return out


def pull_served(data: dict[str, Any], out: Path) -> Path:
    """A pull of a test portal serving `data`, the portal closed after it."""
    fake = FakePortal(data)
    try:
        return pull(fake, out)
    finally:
        fake.close()


def test_a_pulled_portal_audits_to_the_verdicts_its_data_implies(
    fake: FakePortal, tmp_path: Path
) -> None:
    snapshot = pull(fake, tmp_path / "snapshot")
    store = tmp_path / "audit.db"

    summary = audit(snapshot, store)
    code, out, err = autostart("why", "crm.deal:101", "--store", str(store), "--template", "11")

    # A deal created in the form: its running instance and its timeline activity, joined.
    started = verdict(summary, "crm.deal:101", 11, "add")
    assert started["verdict"] == "started"
    (evidence,) = started["evidence"]
    assert (evidence["workflow"], evidence["user"]) == ("69cb6a02a1b2c3.10100011", 7)
    assert [r["kind"] for r in evidence["records"]] == ["instance", "activity"]
    # Two leads inserted on 30 March with a January DATE_CREATE: an import, strongly inferred.
    imported = verdict(summary, "crm.lead:6", 21, "add")
    assert (imported["verdict"], imported["reason"]) == ("excluded", "CHANNEL_IMPORT")
    assert imported["inference"]["signal"] == "stage_history_vs_date_create"
    assert imported["inference"]["confidence"] == "strong heuristic"
    # The other one ran all the same: the rule, the inference or a manual start is wrong.
    ran = verdict(summary, "crm.lead:5", 21, "add")
    assert (ran["verdict"], ran["rule"]) == ("anomaly", "channel.import")
    missing = verdict(summary, "crm.deal:106", 11, "add")
    assert (missing["verdict"], missing["rule"]) == ("anomaly", "evidence_missing")
    # A robot's workflow (template 907 is in no template list) is reported, never dropped.
    assert [(s["template"], s["element"]) for s in summary["unknown_templates"]] == [
        (907, "crm.deal:101")
    ]
    assert code == 0, err
    assert "portal: STARTED: workflow 69cb6a02a1b2c3.10100011" in out
    assert "evidence: instance 69cb6a02a1b2c3.10100011 (bizproc.workflow.instances)" in out
    assert "activity 9001" in out
    assert "workflow 69cb6a02a1b2c4.10100907 (template 907" in out
    for path in [*snapshot.rglob("*"), store]:
        if path.is_file():
            assert fake.token.encode() not in path.read_bytes(), path
    assert fake.token not in json.dumps(summary) + out + err


def test_a_pull_of_the_test_portal_is_the_shipped_example_and_audits_the_same(
    fake: FakePortal, tmp_path: Path
) -> None:
    snapshot = pull(fake, tmp_path / "snapshot")
    shutil.copy(EXAMPLE / "portal.toml", snapshot / "portal.toml")  # what REST cannot show

    pulled = audit(snapshot, tmp_path / "pulled.db")
    shipped = audit(EXAMPLE, tmp_path / "shipped.db")

    for page in (EXAMPLE / "pages").iterdir():
        assert (snapshot / "pages" / page.name).read_bytes() == page.read_bytes(), page.name
    manifests = [json.loads((d / "manifest.json").read_text("utf-8")) for d in (snapshot, EXAMPLE)]
    for manifest in manifests:
        del manifest["portal"], manifest["client"], manifest["autostart"]
    assert manifests[0] == manifests[1]
    assert pulled["pulled_at"] == shipped["pulled_at"] == "2026-03-31T18:00:00+00:00"
    for key in ("verdicts", "unknown_templates", "unmatched_evidence", "counts", "assumptions"):
        assert pulled[key] == shipped[key], key


def test_a_pull_narrowed_by_types_and_since_audits_what_it_holds_and_says_what_it_lacks(
    fake: FakePortal, tmp_path: Path
) -> None:
    whole = audit(pull(fake, tmp_path / "whole"), tmp_path / "whole.db")
    snapshot = pull(fake, tmp_path / "narrow", "--types", "deal", "--since", SINCE)
    store = tmp_path / "narrow.db"

    summary = audit(snapshot, store)
    code, out, _ = autostart("why", "crm.deal:104", "--store", str(store))

    items = [params for method, params in fake.asked if method == "crm.item.list"]
    assert {"entityTypeId": 2, ">=updatedTime": SINCE}.items() <= {
        "entityTypeId": items[-1]["entityTypeId"],
        **items[-1]["filter"],
    }.items()
    crm = [v for v in summary["verdicts"] if v["document_type"].startswith("crm.")]
    assert {v["element"] for v in crm} == {
        "crm.deal:104",
        "crm.deal:105",
        "crm.deal:106",
    }
    for element, template in (("crm.deal:105", 11), ("crm.deal:106", 11), ("crm.deal:106", 13)):
        assert verdict(summary, element, template, "add") == verdict(
            whole, element, template, "add"
        )
    # Deal 104 was restored from the Recycle Bin: the lower ids whose later DATE_CREATE tell a
    # restore from an import were changed before --since, so the audit takes it for an import,
    # a rung less sure, and says why; the portal ran its workflow, hence an anomaly.
    restored = verdict(summary, "crm.deal:104", 11, "add")
    assert verdict(whole, "crm.deal:104", 11, "add")["verdict"] == "started"
    assert (restored["verdict"], restored["rule"]) == ("anomaly", "channel.import")
    assert restored["inference"]["confidence"] == "heuristic"
    assert f"only for items changed since {SINCE}" in restored["inference"]["detail"]
    assert "stage_history_vs_date_create (heuristic)" in restored["note"]
    assert code == 0
    assert "portal: ANOMALY" in out
    # Running workflows are always pulled whole: those on elements the pull left out say why.
    unplaced = {s["element"]: s["why"] for s in summary["unmatched_evidence"]}
    assert unplaced["crm.lead:5"].endswith("the pull did not ask for crm.lead items (--types)")
    assert unplaced["crm.deal:101"].endswith(f"asked only for what changed since {SINCE}")


def test_fields_a_real_portal_leaves_out_are_unknown_and_lower_the_inferences_that_needed_them(
    tmp_path: Path,
) -> None:
    data = example_data()
    data["items"][147][0].pop("createdBy")  # a select without it
    data["items"][1].append(
        {"id": 8, "createdTime": "2026-03-31T16:00:00+03:00", "createdBy": "0", "webformId": None}
    )
    deal_102 = next(item for item in data["items"][2] if item["id"] == 102)
    deal_102["updatedTime"] = ""
    restore = next(row for row in data["instances"] if row["DOCUMENT_ID"] == "DEAL_104")
    restore.pop("STARTED_BY")
    snapshot = pull_served(data, tmp_path / "snapshot")

    summary = audit(snapshot, tmp_path / "audit.db")

    assert summary["records"] == 46
    no_creator = verdict(summary, "crm.dynamic_147:1", 51, "add")["inference"]
    assert (no_creator["signal"], no_creator["confidence"]) == ("no_signal", "default")
    assert no_creator["unknown"] == ["createdBy"]
    assert "less sure: createdBy not in the snapshot" in no_creator["detail"]
    # createdBy 0 says a process made it, unless a web form did: webformId is null.
    by_process = verdict(summary, "crm.lead:8", 21, "add")
    assert (by_process["verdict"], by_process["reason"]) == ("excluded", "CHANNEL_INNER")
    assert by_process["inference"]["signal"] == "created_by_zero"
    assert by_process["inference"]["confidence"] == "default"  # weak, one rung lower
    assert by_process["inference"]["unknown"] == ["webformId"]
    assert verdict(summary, "crm.deal:105", 11, "add")["inference"]["confidence"] == "weak"
    unchanged = verdict(summary, "crm.deal:102", 11, "add")["inference"]["detail"]
    assert "updatedTime not in the snapshot" in unchanged
    restored = verdict(summary, "crm.deal:104", 11, "add")
    assert restored["verdict"] == "started"
    assert "by an unknown user" in restored["note"]


def test_a_pulled_record_without_a_field_the_audit_cannot_do_without_is_refused(
    tmp_path: Path,
) -> None:
    data = example_data()
    data["items"][147][0].pop("createdTime")
    snapshot = pull_served(data, tmp_path / "snapshot")
    store = tmp_path / "audit.db"

    code, out, err = autostart("portal", "audit", str(snapshot), "--store", str(store))

    assert code == 2
    assert out == ""
    assert (
        "pages/crm.item.list.147.jsonl, page 1, field 'result.items[0].createdTime': expected "
        "the field (it is missing; the audit cannot do without it)"
    ) in err
    assert "nothing was recorded" in err
    assert not store.exists()


SMART_INVOICE = "Bitrix\\Crm\\Integration\\BizProc\\Document\\SmartInvoice"


def test_every_kind_of_request_a_pull_writes_is_read_or_kept_as_observed(
    tmp_path: Path,
) -> None:
    data = example_data()
    data["templates"].append(
        {"ID": "61", "MODULE_ID": "crm", "ENTITY": SMART_INVOICE,
         "DOCUMENT_TYPE": ["crm", SMART_INVOICE, "SMART_INVOICE"], "AUTO_EXECUTE": "1",
         "NAME": "Invoice check", "TEMPLATE": [{"Type": "ApproveActivity", "Children": []}]}
    )  # fmt: skip
    data["items"][31] = [
        {"id": 3, "createdTime": "2026-03-31T16:30:00+03:00", "createdBy": 7, "entityTypeId": 31}
    ]
    data["history"][31] = [
        {"ID": "401", "TYPE_ID": "1", "OWNER_ID": "3", "CREATED_TIME": "2026-03-31T13:30:01Z",
         "STAGE_ID": "DT31_1:N"}
    ]  # fmt: skip
    data["instances"].append(
        {"ID": "69cc0000000000.03100061", "MODULE_ID": "crm", "ENTITY": SMART_INVOICE,
         "DOCUMENT_ID": "SMART_INVOICE_3", "STARTED": "2026-03-31T16:30:02+03:00",
         "STARTED_BY": "7", "TEMPLATE_ID": "61"}
    )  # fmt: skip
    snapshot = pull_served(data, tmp_path / "snapshot")
    store = tmp_path / "audit.db"

    summary = audit(snapshot, store)

    files = {p.name for p in (snapshot / "pages").iterdir()}
    assert {"crm.item.list.31.jsonl", "crm.stagehistory.list.31.jsonl"} <= files
    assert {"lists.get.bitrix_processes.jsonl", "lists.get.lists.jsonl"} <= files
    # Stage history of a smart invoice (31) and of a smart process (147) places their adds.
    invoice = verdict(summary, "crm.smart_invoice:3", 61, "add")
    assert (invoice["verdict"], invoice["channel"]) == ("started", "ui")
    assert invoice["evidence"][0]["workflow"] == "69cc0000000000.03100061"
    assert verdict(summary, "crm.dynamic_147:1", 51, "add")["verdict"] == "started"
    # Activities come one file per provider: a task's and a finished workflow's both count.
    deal = verdict(summary, "crm.deal:102", 11, "add")["evidence"][0]["records"]
    lead = verdict(summary, "crm.lead:7", 21, "add")["evidence"][0]["records"]
    assert ("activity", "9002") in {(r["kind"], r["id"]) for r in deal}
    assert ("activity", "9003") in {(r["kind"], r["id"]) for r in lead}
    # lists.get says which lists are Feed processes: kept as observed, never taken for elements.
    assert summary["records"] == 45 + 4
    elements = {v["element"] for v in summary["verdicts"]}
    assert {e for e in elements if e.startswith("feed.")} == {"feed.iblock_22:900"}
    code, _, err = autostart("why", "feed.iblock_22:22", "--store", str(store))
    assert code == 2, err
