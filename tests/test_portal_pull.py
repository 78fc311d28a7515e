"""`autostart portal pull` against a local fake portal: pages, throttles, errors, resuming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_portal import FakePortal, documented_errors, example_data

from portal.targets import records
from simulations.cli import main

AUTOSTART = str(Path(sys.executable).with_name("autostart"))
FAST = ("--backoff", "0", "--rate", "1000")
EXPECTED_FILES = {
    "bizproc.workflow.template.list.jsonl",
    "bizproc.workflow.instances.jsonl",
    "bizproc.task.list.jsonl",
    "crm.item.list.1.jsonl",
    "crm.item.list.2.jsonl",
    "crm.item.list.147.jsonl",
    "crm.stagehistory.list.1.jsonl",
    "crm.stagehistory.list.2.jsonl",
    "crm.stagehistory.list.147.jsonl",
    "crm.activity.list.CRM_BIZPROC_TASK.jsonl",
    "crm.activity.list.CRM_BIZPROC_WORKFLOW.jsonl",
    "crm.activity.list.CRM_BIZPROC_COMMENT.jsonl",
    "lists.get.bitrix_processes.jsonl",
    "lists.get.lists.jsonl",
    "lists.element.get.22.jsonl",
    "disk.storage.getchildren.1.jsonl",
    "disk.folder.getchildren.5100.jsonl",
    "disk.file.getVersions.5120.jsonl",
}


@pytest.fixture
def fake() -> Iterator[FakePortal]:
    portal = FakePortal()
    yield portal
    portal.close()


def pull(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["portal", "pull", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def page_lines(out: Path, file: str) -> list[Any]:
    return [json.loads(line) for line in (out / file).read_text(encoding="utf-8").splitlines()]


def assert_snapshot_is_what_was_served(out: Path, fake: FakePortal) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    redacted_webhook = f"{fake.base}/rest/1/***/"
    assert {Path(entry["file"]).name for entry in manifest["requests"]} == EXPECTED_FILES
    assert sorted(p.name for p in (out / "pages").iterdir()) == sorted(EXPECTED_FILES)
    for entry in manifest["requests"]:
        served = list(fake.pages(entry["method"], entry["params"], webhook=redacted_webhook))
        assert page_lines(out, entry["file"]) == served, entry["file"]
        assert entry["pages"] == len(served)
    return manifest


def assert_no_secret(token: str, out: Path, *texts: str) -> None:
    for text in texts:
        assert token not in text
    for path in out.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_a_pull_writes_every_page_the_portal_served_with_the_token_redacted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakePortal(throttle_every=5, unavailable_every=13)
    out = tmp_path / "snapshot"

    try:
        code, stdout, stderr = pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)
    finally:
        fake.close()

    assert code == 0, stderr
    manifest = assert_snapshot_is_what_was_served(out, fake)
    assert fake.throttled > 0
    assert fake.unavailable > 0
    assert manifest["format"] == "autostart-snapshot/1"
    assert manifest["portal"] == fake.base.removeprefix("http://")
    assert manifest["since"] is None
    assert manifest["types"] == ["lead", "deal", "dynamic_147"]
    assert manifest["client"]["name"] == "fast-bitrix24"
    assert manifest["requests"][0]["method"] == "bizproc.workflow.template.list"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "pages"]
    assert stdout.strip() == str(out / "manifest.json")
    assert_no_secret(fake.token, out, stdout, stderr)


def test_a_download_url_keeps_everything_but_the_token(
    capsys: pytest.CaptureFixture[str], fake: FakePortal, tmp_path: Path
) -> None:
    out = tmp_path / "snapshot"

    pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)

    (page,) = page_lines(out, "pages/disk.file.getVersions.5120.jsonl")
    served = next(fake.pages("disk.file.getVersions", {"id": 5120}, webhook=fake.url))
    assert f"auth={fake.token}&" in served["result"][0]["DOWNLOAD_URL"]
    assert [v["DOWNLOAD_URL"] for v in page["result"]] == [
        "https://example.bitrix24.com/rest/download.json?auth=***&token=disk%7CaWQ9NTEyMCZfPTZkdUNQ"
        f"%7CImRvd25sb2FkfGRpc2t8{n}"
        for n in (2, 3)
    ]
    assert page["result"][0]["GLOBAL_CONTENT_VERSION"] == "2"


def test_lists_are_paged_fifty_rows_a_page_the_later_pages_in_one_batch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakePortal(example_data(padding_deals=115))
    out = tmp_path / "snapshot"

    try:
        pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)
    finally:
        fake.close()

    deals = page_lines(out, "pages/crm.item.list.2.jsonl")
    assert [len(records(page)) for page in deals] == [50, 50, 20]
    assert [page.get("next") for page in deals] == [50, 100, None]
    assert [page["total"] for page in deals] == [120, 120, 120]
    batches = [params for method, params in fake.asked if method == "batch"]
    assert any(
        sorted(params["cmd"]) == ["p100", "p50"] and "crm.item.list?" in params["cmd"]["p50"]
        for params in batches
    )


def test_a_portal_that_keeps_throttling_stops_the_pull_after_the_retries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakePortal(throttle_every=1)
    out = tmp_path / "snapshot"

    try:
        code, _, stderr = pull(
            capsys, "--webhook", fake.url, "--out", str(out), "--retries", "3", *FAST
        )
    finally:
        fake.close()

    assert code == 2
    assert "still throttles bizproc.workflow.template.list after 3 tries" in stderr
    assert fake.calls == 3
    assert not (out / "manifest.json").exists()


def test_a_token_that_expires_mid_pull_stops_it_and_a_new_one_resumes_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakePortal(expire_after=9)
    old_token = fake.token
    out = tmp_path / "snapshot"

    try:
        code, _, stderr = pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)
        stopped_with = sorted(p.name for p in (out / "pages").iterdir())
        fake.renew_token("n3wT0kenAft3rExpiry")
        again, _, resumed = pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)
    finally:
        fake.close()

    assert code == 2
    assert "rejected the webhook's token on crm.activity.list (expired_token" in stderr
    assert "run the same pull again (same --out) to resume it" in stderr
    assert 0 < len(stopped_with) < len(EXPECTED_FILES)
    assert again == 0, resumed
    assert "resuming the unfinished pull" in resumed
    assert_snapshot_is_what_was_served(out, fake)
    for token in (old_token, fake.token):
        assert_no_secret(token, out, stderr, resumed)


@pytest.mark.parametrize(
    ("status", "body"),
    documented_errors(),
    ids=[
        f"{status}-{body['error'] or body['error_description']}"
        for status, body in documented_errors()
    ],
)
def test_every_documented_error_stops_the_pull_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, status: int, body: dict[str, Any]
) -> None:
    fake = FakePortal(fail=(status, body), fail_method="crm.item.list")
    out = tmp_path / "snapshot"

    try:
        code, stdout, stderr = pull(
            capsys, "--webhook", fake.url, "--out", str(out), "--retries", "2", *FAST
        )
    finally:
        fake.close()

    assert code == 2
    assert stderr.startswith("autostart portal: ")
    assert str(body["error"]) in stderr
    assert body["error_description"] in stderr
    assert "Traceback" not in stderr
    assert "crm.item.list" in stderr
    assert not (out / "manifest.json").exists()
    assert_no_secret(fake.token, out, stdout, stderr)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("insufficient_scope", "lacks the scope 'crm' that crm.item.list needs"),
        ("ACCESS_DENIED", "denied crm.item.list"),
        ("expired_token", "rejected the webhook's token"),
        ("INVALID_CREDENTIALS", "rejected the webhook's token"),
        ("QUERY_LIMIT_EXCEEDED", "still throttles crm.item.list after 2 tries"),
    ],
)
def test_the_message_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, code: str, says: str
) -> None:
    fake = FakePortal(
        fail=(401, {"error": code, "error_description": ""}), fail_method="crm.item.list"
    )

    try:
        _, _, stderr = pull(
            capsys, "--webhook", fake.url, "--out", str(tmp_path / "s"), "--retries", "2", *FAST
        )
    finally:
        fake.close()

    assert says in stderr


def test_an_error_inside_a_batch_stops_the_pull_and_names_the_listed_method(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scope = {"error": "insufficient_scope", "error_description": ""}
    fake = FakePortal(example_data(padding_deals=115), fail_in_batch=scope)

    try:
        code, _, stderr = pull(capsys, "--webhook", fake.url, "--out", str(tmp_path / "s"), *FAST)
    finally:
        fake.close()

    assert code == 2
    assert "lacks the scope 'crm' that crm.item.list needs" in stderr
    assert fake.token not in stderr


def test_a_portal_that_answers_no_json_stops_the_pull_and_a_later_run_resumes_it(
    capsys: pytest.CaptureFixture[str], fake: FakePortal, tmp_path: Path
) -> None:
    fake.html_method = "disk.storage.getchildren"
    out = tmp_path / "snapshot"

    code, _, stderr = pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)
    fake.html_method = None
    again, _, _ = pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)

    assert code == 2
    assert (
        "answered disk.storage.getchildren with no JSON (HTTP 200); check the webhook URL" in stderr
    )
    assert "Traceback" not in stderr
    assert again == 0
    assert_snapshot_is_what_was_served(out, fake)
    assert_no_secret(fake.token, out, stderr)


def test_a_pull_killed_midway_then_resumed_writes_the_same_folder_as_an_unbroken_one(
    fake: FakePortal, tmp_path: Path
) -> None:
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    env = {**os.environ, "AUTOSTART_WEBHOOK": fake.url}
    command = [AUTOSTART, "portal", "pull", *FAST]
    subprocess.run([*command, "--out", str(whole)], env=env, check=True, capture_output=True)
    fake.delay_s, calls_before = 0.05, fake.calls

    # Kill the pull once it has fetched a few pages, without letting it tidy up.
    process = subprocess.Popen([*command, "--out", str(broken)], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while fake.calls < calls_before + 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_with = sorted(p.name for p in (broken / "pages").iterdir())
    fake.delay_s = 0
    resumed = subprocess.run(
        [*command, "--out", str(broken)], env=env, capture_output=True, text=True, check=False
    )

    assert process.returncode == -signal.SIGKILL
    assert 0 < len(killed_with) < len(EXPECTED_FILES)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    for page_file in (whole / "pages").iterdir():
        assert (broken / "pages" / page_file.name).read_bytes() == page_file.read_bytes()
    manifests = [json.loads((d / "manifest.json").read_text()) for d in (whole, broken)]
    for manifest in manifests:
        del manifest["pulled_at"]
    assert manifests[0] == manifests[1]
    assert sorted(p.name for p in broken.iterdir()) == ["manifest.json", "pages"]
    assert_no_secret(fake.token, broken, resumed.stdout, resumed.stderr)


def test_since_and_types_narrow_the_pull_and_are_recorded(
    capsys: pytest.CaptureFixture[str], fake: FakePortal, tmp_path: Path
) -> None:
    out = tmp_path / "snapshot"
    since = "2026-03-01T00:00:00+03:00"

    code, _, stderr = pull(
        capsys, "--webhook", fake.url, "--out", str(out), "--since", since,
        "--types", "deal,quote", *FAST,
    )  # fmt: skip

    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["since"] == since
    assert manifest["types"] == ["deal"]
    files = {Path(entry["file"]).name for entry in manifest["requests"]}
    assert "crm.item.list.2.jsonl" in files
    assert "crm.item.list.1.jsonl" not in files
    assert "no template starts on quote" in stderr
    items = [params for method, params in fake.asked if method == "crm.item.list"]
    assert items[0]["filter"] == {">=updatedTime": since}


def test_a_complete_snapshot_is_never_pulled_over(
    capsys: pytest.CaptureFixture[str], fake: FakePortal, tmp_path: Path
) -> None:
    out = tmp_path / "snapshot"
    pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)
    before = (out / "manifest.json").read_bytes()

    code, _, stderr = pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)

    assert code == 2
    assert "already holds a complete snapshot" in stderr
    assert (out / "manifest.json").read_bytes() == before


def test_an_unfinished_pull_is_resumed_only_as_it_was_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakePortal(expire_after=5)
    out = tmp_path / "snapshot"
    try:
        pull(capsys, "--webhook", fake.url, "--out", str(out), *FAST)
        fake.renew_token("an0therT0ken")

        code, _, stderr = pull(
            capsys, "--webhook", fake.url, "--out", str(out), "--types", "deal", *FAST
        )
    finally:
        fake.close()

    assert code == 2
    assert "holds an unfinished pull asked otherwise" in stderr
    assert not (out / "manifest.json").exists()


def test_the_webhook_comes_from_the_environment_too(
    capsys: pytest.CaptureFixture[str],
    fake: FakePortal,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTOSTART_WEBHOOK", fake.url)

    code, _, stderr = pull(capsys, "--out", str(tmp_path / "snapshot"), *FAST)

    assert code == 0, stderr
    assert fake.token not in stderr


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "give the portal's inbound webhook URL"),
        (["--webhook", "https://example.bitrix24.com/rest/S3cretOnly/"], "not an inbound webhook"),
        (["--webhook", "ftp://example.bitrix24.com/rest/1/S3cretOnly/"], "expected a URL"),
        (
            ["--webhook", "https://example.bitrix24.com/rest/1/S3cretOnly/", "--types", "deals"],
            "unknown CRM type 'deals'",
        ),
        (
            ["--webhook", "https://example.bitrix24.com/rest/1/S3cretOnly/", "--since", "May"],
            "--since 'May'",
        ),
    ],
)
def test_bad_options_are_refused_without_showing_the_token(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    says: str,
) -> None:
    monkeypatch.delenv("AUTOSTART_WEBHOOK", raising=False)

    code, _, stderr = pull(capsys, "--out", str(tmp_path / "snapshot"), *argv)

    assert code == 2
    assert says in stderr
    assert "S3cretOnly" not in stderr
    assert not (tmp_path / "snapshot").exists()


def test_nothing_the_client_library_logs_carries_the_token(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    fake = FakePortal(throttle_every=4, unavailable_every=7)
    caplog.set_level("DEBUG")

    try:
        pull(capsys, "--webhook", fake.url, "--out", str(tmp_path / "snapshot"), *FAST)
    finally:
        fake.close()

    assert "DOWNLOAD_URL" in caplog.text
    assert fake.token not in caplog.text


def test_a_portal_that_echoes_the_webhook_in_an_error_shows_it_redacted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakePortal()
    fake.fail = (400, {"error": "INVALID_REQUEST", "error_description": f"Bad call {fake.url}"})

    try:
        code, _, stderr = pull(capsys, "--webhook", fake.url, "--out", str(tmp_path / "s"), *FAST)
    finally:
        fake.close()

    assert code == 2
    assert f"Bad call {fake.base}/rest/1/***/" in stderr
    assert fake.token not in stderr


def test_pull_help_names_the_scopes_the_webhook_needs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["portal", "pull", "--help"])

    assert exited.value.code == 0
    assert "bizproc, crm, lists, disk" in " ".join(capsys.readouterr().out.split())
