"""The web view as a real `autostart serve` on 127.0.0.1, read by Debian's headless Chromium.

Run as a script, it regenerates the README's screenshot of the element page from the example
store: `.venv/bin/python tests/browsing.py docs/element-page.png`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from postgres_server import free_port
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
START_SECONDS = 20.0
SCREENSHOT_ELEMENT = "crm.deal:101"


def autostart(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulations.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def example_store(folder: Path) -> Path:
    """The example traffic replayed into a SQLite file in `folder`."""
    traffic, store = folder / "example.jsonl", folder / "example.db"
    traffic.write_text(autostart("example").stdout, encoding="utf-8")
    replayed = autostart("replay", str(traffic), "--store", str(store), "--decisions", os.devnull)
    assert replayed.returncode == 0, replayed.stderr
    return store


class Server:
    """A running `autostart serve`; its stderr is read once it stops."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self.stderr = ""


@contextmanager
def serving(
    store: Path | str, *options: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`autostart serve` on a free port of 127.0.0.1 (unless `options` give --listen)."""
    port = free_port()
    listen: tuple[str, ...] = ("--listen", f"127.0.0.1:{port}")
    if "--listen" in options:
        listen, port = (), int(options[options.index("--listen") + 1].rpartition(":")[2])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulations.cli",
            "serve",
            "--store",
            str(store),
            *listen,
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        _, server.stderr = process.communicate(timeout=30)


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"autostart serve stopped: {server.process.communicate()[1]}")
        try:
            with urllib.request.urlopen(server.url + "/", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers (401 when guarded)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"autostart serve did not answer within {START_SECONDS} s")


def chromium(downloads: Path) -> webdriver.Chrome:
    """Debian's Chromium through its own driver: both paths given, so Selenium fetches nothing."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the suite may run as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1500",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    service = Service(executable_path=shutil.which("chromedriver") or CHROMEDRIVER)
    return webdriver.Chrome(options=options, service=service)


def screenshot(store: Path, out: Path) -> None:
    """The element page of the example's deal 101, as the README shows it."""
    with serving(store) as server, tempfile.TemporaryDirectory() as downloads:
        browser = chromium(Path(downloads))
        try:
            browser.get(f"{server.url}/elements/{SCREENSHOT_ELEMENT}?template=11")
            browser.save_screenshot(str(out))
        finally:
            browser.quit()


if __name__ == "__main__":
    os.environ["SE_OFFLINE"] = "true"
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/element-page.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        screenshot(example_store(Path(folder)), target)
    print(f"wrote {target}", file=sys.stderr)
