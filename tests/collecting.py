"""The collector as a real process on 127.0.0.1, and deliveries shaped as a portal sends them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import aiohttp
from fake_portal import FakePortal, timing
from postgres_server import free_port

TOKEN = "jvh9y1ulvt2m6k5or90v9mg8nn32ozas"
ACCESS_TOKEN = "s6p6eclrvim6da22ft9ch94ekreb52lv"
REFRESH_TOKEN = "4s386p3q0tr8dy89xvmt96234v3dljg8"
FORM = "application/x-www-form-urlencoded"
START_SECONDS = 20.0


def delivery(
    event: str = "ONCRMDEALADD",
    item: int | str | None = 101,
    ts: int | str = 1766047124,
    token: str | None = TOKEN,
    **fields: str,
) -> bytes:
    """A form-encoded body as Bitrix24 posts it: `data[FIELDS][ID]`, `auth[...]`, all strings."""
    pairs: list[tuple[str, str]] = [("event", event), ("event_handler_id", "975")]
    if item is not None:
        pairs.append(("data[FIELDS][ID]", str(item)))
    pairs += [(f"data[FIELDS][{key}]", value) for key, value in fields.items()]
    pairs += [
        ("ts", str(ts)),
        ("auth[domain]", "some-domain.bitrix24.com"),
        ("auth[client_endpoint]", "https://some-domain.bitrix24.com/rest/"),
        ("auth[server_endpoint]", "https://oauth.bitrix.info/rest/"),
        ("auth[member_id]", "d897063e1ce7c5eb9f04b9751eef5915"),
        ("auth[access_token]", ACCESS_TOKEN),
        ("auth[refresh_token]", REFRESH_TOKEN),
    ]
    if token is not None:
        pairs.append(("auth[application_token]", token))
    return urlencode(pairs).encode()


def autostart(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulations.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def collected(store: str) -> list[dict[str, Any]]:
    """What `autostart collect events` prints for `store`."""
    result = autostart("collect", "events", "--store", store)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


class Collector:
    """`autostart collect` in its own process, listening on a free port of 127.0.0.1."""

    def __init__(
        self,
        store: str,
        folder: Path,
        *options: str,
        name: str = "collector",
        env: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.folder = folder
        self.options = options
        self.name = name
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = folder / f"{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        token_file = self.folder / "app-token"
        token_file.write_text(TOKEN + "\n")
        command = [
            sys.executable,
            "-m",
            "simulations.cli",
            "collect",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--store",
            self.store,
            "--app-token-file",
            str(token_file),
            *self.options,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=self.env)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the collector exited at start:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the collector did not answer in {START_SECONDS} s:\n{self.log()}")

    def post(self, body: bytes, content_type: str = FORM) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.url}/bitrix/events", data=body, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as answer:
            text: str = answer.read().decode()
            return text

    def stop(self, sig: int | None = signal.SIGTERM) -> int:
        """Sends `sig` (None: none, it was sent already) and waits; returns the exit status."""
        if self.process is None:
            return 0
        if sig is not None and self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop(signal.SIGKILL)


async def burst(
    url: str,
    bodies: Sequence[bytes],
    clients: int,
    on_answer: Any = None,
) -> list[int | None]:
    """Posts every body from `clients` concurrent connections; each one's status, or None.

    None means no answer came back (the connection broke). `on_answer(count)` is called after
    each answer with the number of answers so far.
    """
    statuses: list[int | None] = [None] * len(bodies)
    next_index = iter(range(len(bodies)))
    answered = [0]
    timeout = aiohttp.ClientTimeout(total=30)

    async def client(session: aiohttp.ClientSession) -> None:
        for index in next_index:
            try:
                async with session.post(
                    f"{url}/bitrix/events", data=bodies[index], headers={"Content-Type": FORM}
                ) as answer:
                    await answer.read()
                    statuses[index] = answer.status
            except (TimeoutError, aiohttp.ClientError):
                statuses[index] = None
            answered[0] += 1
            if on_answer is not None:
                on_answer(answered[0])

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return statuses


@dataclass
class CollectorPortal(FakePortal):
    """The fake portal, with running workflows per document and the event handler methods."""

    running: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    bound: list[dict[str, Any]] = field(default_factory=list)

    def page(self, method: str, params: Mapping[str, Any], *, webhook: str) -> dict[str, Any]:
        if method == "bizproc.workflow.instances":
            wanted = dict(params.get("filter") or {}).get("DOCUMENT_ID")
            return {
                "result": list(self.running.get(str(wanted), [])),
                "time": timing(self.data["clock"], method),
            }
        if method == "event.get":
            return {"result": list(self.bound), "time": timing(self.data["clock"], method)}
        if method == "event.bind":
            self.bound.append(
                {
                    "event": params["event"],
                    "handler": params["handler"],
                    "auth_type": "0",
                    "offline": 0,
                }
            )
            return {"result": True, "time": timing(self.data["clock"], method)}
        if method == "event.unbind":
            before = len(self.bound)
            self.bound = [
                row
                for row in self.bound
                if (row["event"], row["handler"]) != (params["event"], params["handler"])
            ]
            return {
                "result": {"count": before - len(self.bound)},
                "time": timing(self.data["clock"], method),
            }
        return super().page(method, params, webhook=webhook)
