"""The web view in Debian's headless Chromium: find, read why, filter, download, escape."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browsing import autostart, chromium, example_store, screenshot, serving
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

HOSTILE_TITLE = '<script>window.__pwned = "script"</script>'
HOSTILE_ACTOR = '"><img src=x onerror="window.__pwned = \'img\'">'


@pytest.fixture(autouse=True)
def _offline() -> Iterator[None]:
    # Selenium Manager must never fetch a browser or a driver: both paths are given.
    os.environ["SE_OFFLINE"] = "true"
    yield
    os.environ.pop("SE_OFFLINE", None)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_store(tmp_path_factory.mktemp("browser"))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "downloads")
    try:
        yield driver
    finally:
        driver.quit()


def _navigating(browser: webdriver.Chrome, action: Callable[[], object]) -> None:
    """Runs `action` (a click, a submit) and waits until the next page has replaced this one."""
    page = browser.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(browser, 20).until(lambda _: _gone(page))


def _gone(page: WebElement) -> bool:
    """Whether the page has been replaced. Mid-navigation Chromium may answer "node does not
    belong to the document" rather than a stale reference: both mean the page is gone."""
    try:
        page.is_enabled()
    except WebDriverException:  # StaleElementReferenceException is one
        return True
    return False


def _search(browser: webdriver.Chrome, element: str) -> None:
    box = browser.find_element(By.ID, "element-search")
    box.clear()
    box.send_keys(element)
    _navigating(browser, box.submit)


def _click(browser: webdriver.Chrome, by: str, value: str) -> None:
    _navigating(browser, lambda: browser.find_element(by, value).click())


def test_an_administrator_finds_an_element_reads_why_and_follows_its_template(
    store: Path, browser: webdriver.Chrome
) -> None:
    with serving(store) as server:
        browser.get(server.url + "/")

        # A mistyped id: the nearest known ones are offered.
        _search(browser, "crm.deal:104")
        suggestions = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#suggestions a")]
        _click(browser, By.LINK_TEXT, "crm.deal:101")
        title = browser.find_element(By.ID, "element-title").text
        page = browser.find_element(By.TAG_NAME, "body").text
        deciding = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.checks td.FAIL")]
        _click(browser, By.CSS_SELECTOR, "#change-1 a.template-link")
        template_title = browser.find_element(By.ID, "template-title").text
        history = browser.find_element(By.ID, "history").text

    assert suggestions[:3] == ["crm.deal:103", "crm.deal:102", "crm.deal:101"]
    assert title == "crm.deal:101 (crm.deal)"
    why = autostart("why", "crm.deal:101", "--store", str(store), "--json")
    explanation = json.loads(why.stdout)
    for change in explanation["changes"]:
        for decision in change["decisions"]:
            assert f"{decision['outcome']} {decision['reason']}" in page
            for check in decision["checks"]:
                assert check["source"] in page
    assert "configuration v1: auto_execute=3, active=on, duration=3600s" in page
    assert "pass limit limit=2, running=0, policy=queue, edition=cloud [C]" in page
    assert set(deciding) == {"FAIL"}
    assert len(deciding) == sum(
        1
        for change in explanation["changes"]
        for decision in change["decisions"]
        if decision["outcome"] != "started"
    )
    assert template_title == "Template 11 (crm.deal)"
    assert "admin_1" in history


def test_decisions_filtered_in_the_form_download_as_the_same_csv_as_the_export(
    store: Path, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    with serving(store) as server:
        browser.get(server.url + "/decisions")
        browser.find_element(By.ID, "filter-template").send_keys("11")
        browser.find_element(By.ID, "filter-outcome").send_keys("started")
        _click(browser, By.ID, "apply")
        shown = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#decisions tr")[1:]]
        browser.find_element(By.ID, "download-csv").click()
        downloaded = _downloaded(tmp_path / "downloads" / "decisions.csv")

        # The download left this page where it was; a fresh one for the next filter.
        browser.get(server.url + "/decisions")
        browser.find_element(By.ID, "filter-outcome").send_keys("begun")
        _click(browser, By.ID, "apply")
        refused = browser.find_element(By.ID, "error").text

    exported = autostart(
        "decisions",
        "--store",
        str(store),
        "--format",
        "csv",
        "--template",
        "11",
        "--outcome",
        "started",
    )
    assert downloaded == exported.stdout
    rows = list(csv.DictReader(io.StringIO(downloaded)))
    assert len(shown) == len(rows) >= 4  # deal 101 on lines 11, 13, 19; deal 102 on line 12
    assert all(row["outcome"] == "started" and row["template"] == "11" for row in rows)
    assert refused == "--outcome 'begun': expected one of started, queued, rejected, skipped"


def _downloaded(path: Path, within_s: float = 20.0) -> str:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if path.is_file():
            return path.read_text(encoding="utf-8")
        time.sleep(0.1)
    raise AssertionError(f"no download at {path.name} within {within_s} s")


def test_markup_from_traffic_is_shown_as_text_and_never_runs(
    tmp_path: Path, browser: webdriver.Chrome
) -> None:
    traffic = tmp_path / "hostile.jsonl"
    lines = [
        {"op": "template", "template": 1, "document_type": "crm.deal", "auto_execute": 1},
        {
            "op": "create",
            "at": "2026-03-02T09:00:00+03:00",
            "element": "crm.deal:1",
            "channel": "ui",
            "actor": HOSTILE_ACTOR,
            "fields": {"TITLE": HOSTILE_TITLE, HOSTILE_ACTOR: "x"},
        },
    ]
    traffic.write_text("".join(json.dumps(line) + "\n" for line in lines))
    store = tmp_path / "hostile.db"
    assert autostart("replay", str(traffic), "--store", str(store)).returncode == 0

    with serving(store) as server:
        browser.get(server.url + "/elements/crm.deal:1")
        ran = browser.execute_script("return window.__pwned === undefined ? null : window.__pwned")
        text = browser.find_element(By.TAG_NAME, "body").text
        images = len(browser.find_elements(By.CSS_SELECTOR, "img"))
        browser.get(server.url + "/decisions?element=crm.deal:1")
        ran_on_list = browser.execute_script(
            "return window.__pwned === undefined ? null : window.__pwned"
        )

    assert ran is None
    assert ran_on_list is None
    assert images == 0
    assert HOSTILE_TITLE in text
    assert HOSTILE_ACTOR in text


def test_the_screenshot_of_the_element_page_is_taken_from_the_example_store(
    store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "element-page.png"

    screenshot(store, out)

    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 1500) or width == 1280
    assert len(data) > 50_000
