"""`autostart collect bind`, `unbind` and `status`: the portal's handlers for the collector."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from portal.cli.pull import WEBHOOK_VARIABLE
from portal.collector.payload import EVENTS
from portal.webhook import Webhook, WebhookError
from simulations.cli.common import EXIT_OK, UsageError, require_extra

if TYPE_CHECKING:
    from portal.client import PortalClient


def webhook(text: str) -> Webhook:
    """The inbound webhook in `text`; a mistake is a UsageError that shows no token."""
    if not text:
        raise UsageError(f"give the portal's inbound webhook URL: --webhook or ${WEBHOOK_VARIABLE}")
    try:
        return Webhook.parse(text)
    except WebhookError as error:
        raise UsageError(f"--webhook: {error}") from None


def _handler(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(
            f"--handler {text!r}: expected the collector's public URL, "
            "e.g. https://collector.example.com/bitrix/events"
        )
    return text


def register(group: Any) -> None:
    """Adds `bind`, `unbind` and `status` to `autostart collect`."""
    about = {
        "bind": "register the collector's handler for every CRM event it records (event.bind)",
        "unbind": "remove the collector's handler from the portal (event.unbind)",
        "status": "list the handlers bound on the portal (event.get)",
    }
    runs: dict[str, Callable[[argparse.Namespace], int]] = {
        "bind": _bind,
        "unbind": _unbind,
        "status": _status,
    }
    for name, text in about.items():
        parser = group.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        parser.add_argument(
            "--webhook",
            default=argparse.SUPPRESS,
            metavar="URL",
            help=f"https://HOST/rest/USER/TOKEN/ (default ${WEBHOOK_VARIABLE})",
        )
        if name != "status":
            parser.add_argument(
                "--handler",
                required=True,
                metavar="PUBLIC_URL",
                help="where the portal posts, e.g. https://collector.example.com/bitrix/events",
            )
        else:
            parser.add_argument("--json", action="store_true", help="JSON Lines, not a table")
        parser.set_defaults(run=runs[name])


def _client(args: argparse.Namespace) -> PortalClient:
    require_extra("portal", "aiohttp", "fast_bitrix24")
    from portal.client import PortalClient  # noqa: PLC0415

    return PortalClient(webhook(args.webhook or os.environ.get(WEBHOOK_VARIABLE, "")))


def _call(client: PortalClient, work: Callable[[PortalClient], Awaitable[Any]]) -> Any:
    from portal.client import PortalError  # noqa: PLC0415

    async def run() -> Any:
        async with client:
            return await work(client)

    try:
        return asyncio.run(run())
    except PortalError as error:
        raise UsageError(str(error)) from None


async def _bound(client: PortalClient) -> list[dict[str, str]]:
    body = await client.page("event.get", {})
    rows = body.get("result")
    if not isinstance(rows, list):
        return []
    return [
        {
            "event": str(row.get("event", "")).upper(),
            "handler": str(row.get("handler", "")),
            "auth_type": str(row.get("auth_type", "")),
            "offline": str(row.get("offline", "")),
        }
        for row in rows
        if isinstance(row, dict)
    ]


def _bind(args: argparse.Namespace) -> int:
    handler = _handler(args.handler)

    async def work(client: PortalClient) -> list[dict[str, str]]:
        bound = {row["event"] for row in await _bound(client) if row["handler"] == handler}
        done = []
        for event in sorted(EVENTS):
            if event in bound:
                done.append({"event": event, "handler": handler, "result": "already bound"})
                continue
            await client.page("event.bind", {"event": event, "handler": handler})
            done.append({"event": event, "handler": handler, "result": "bound"})
        return done

    _print(_call(_client(args), work))
    return EXIT_OK


def _unbind(args: argparse.Namespace) -> int:
    handler = _handler(args.handler)

    async def work(client: PortalClient) -> list[dict[str, str]]:
        done = []
        for row in await _bound(client):
            if row["handler"] == handler and row["event"] in EVENTS:
                await client.page("event.unbind", {"event": row["event"], "handler": handler})
                done.append({"event": row["event"], "handler": handler, "result": "unbound"})
        return done

    _print(_call(_client(args), work))
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    rows: list[dict[str, str]] = _call(_client(args), _bound)
    for row in rows:
        row["recorded"] = "yes" if row["event"] in EVENTS else "no"
    if args.json:
        _print(rows)
        return EXIT_OK
    columns = ("event", "handler", "auth_type", "offline", "recorded")
    widths = {c: max([len(c), *(len(row[c]) for row in rows)]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
    return EXIT_OK


def _print(rows: list[dict[str, str]]) -> None:
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
