"""`autostart portal pull`: a REST snapshot of a real portal, written to a folder."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal import SCOPES
from portal.snapshot import FORMAT
from portal.targets import parse_types, type_name
from portal.webhook import Webhook, WebhookError
from portal.writer import FolderError, SnapshotFolder
from simulations.cli.common import EXIT_OK, UsageError, parse_time, require_extra, say

if TYPE_CHECKING:
    from portal.pull import Pull

WEBHOOK_VARIABLE = "AUTOSTART_WEBHOOK"


def cmd_pull(args: argparse.Namespace) -> int:
    require_extra("portal", "aiohttp", "fast_bitrix24")
    # aiohttp and the client library load only here: every other command would pay to import them.
    from portal.client import PortalClient, PortalError, Retry  # noqa: PLC0415
    from portal.pull import Pull  # noqa: PLC0415

    webhook = _webhook(args.webhook or os.environ.get(WEBHOOK_VARIABLE, ""))
    since = parse_time(args.since, "--since") if args.since else None
    try:
        types = parse_types(args.types) if args.types else None
    except ValueError as error:
        raise UsageError(f"--types: {error}") from None
    if args.retries < 1 or args.backoff < 0 or args.rate <= 0:
        raise UsageError("--retries must be at least 1, --backoff at least 0, --rate above 0")
    snapshot = SnapshotFolder(Path(args.out))
    asked = {
        "format": FORMAT,
        "portal": webhook.host,
        "since": since.isoformat() if since else None,
        "types": [type_name(number) for number in types] if types else None,
    }
    try:
        if snapshot.begin(asked) and not args.quiet:
            say(f"resuming the unfinished pull of {webhook.host} in {args.out}")
    except FolderError as error:
        raise UsageError(f"--out: {error}") from None
    except OSError as error:
        raise UsageError(f"--out {args.out!r}: {error.strerror}") from None
    client = PortalClient(
        webhook,
        retry=Retry(tries=args.retries, backoff_s=args.backoff),
        requests_per_second=args.rate,
    )
    pull = Pull(client, snapshot, since=since, types=types, warn=say)
    try:
        manifest = asyncio.run(_run(pull))
    except PortalError as error:
        raise UsageError(
            f"{error}. {args.out} has no manifest yet: run the same pull again (same --out) "
            "to resume it"
        ) from None
    except OSError as error:
        raise UsageError(f"--out {args.out!r}: {error.strerror}") from None
    except KeyboardInterrupt:
        raise UsageError(
            f"interrupted. {args.out} has no manifest yet: run the same pull again (same --out) "
            "to resume it"
        ) from None
    path = snapshot.finish(manifest)
    pages = sum(entry["pages"] for entry in manifest["requests"])
    if not args.quiet:
        say(
            f"pulled {webhook.host}: {len(manifest['requests'])} requests, {pages} pages, "
            f"{pull.rows} records, {client.calls} calls, into {args.out}"
        )
    print(path)
    return EXIT_OK


async def _run(pull: Pull) -> dict[str, Any]:
    async with pull.client:
        return await pull.run()


def _webhook(text: str) -> Webhook:
    if not text:
        raise UsageError(f"give the portal's inbound webhook URL: --webhook or {WEBHOOK_VARIABLE}")
    try:
        return Webhook.parse(text)
    except WebhookError as error:
        raise UsageError(f"--webhook: {error}") from None


def register(commands: Any) -> None:
    """Adds the `pull` commands to `autostart portal`."""
    parser = commands.add_parser(
        "pull",
        help="read a portal over REST into a snapshot folder (resumable)",
        description=(
            "Read a Bitrix24 portal through an inbound webhook into DIR: one JSON Lines file per "
            "request under DIR/pages (one line per page, as the portal answered it, the token "
            "redacted) and DIR/manifest.json, written last. Fetches the templates, running "
            "instances, tasks, the items, stage history and bizproc activities of every CRM type "
            "that has templates, the elements of the Feed lists and the Drive files (with their "
            "versions) that have templates. The webhook needs the scopes "
            f"{', '.join(SCOPES)}. A pull that stopped (throttled, a token expired, killed) is "
            "resumed by running it again with the same DIR. Prints the manifest's path."
        ),
    )
    parser.add_argument(
        "--webhook",
        metavar="URL",
        help=f"https://HOST/rest/USER/TOKEN/ (default: ${WEBHOOK_VARIABLE}, which keeps the "
        "token out of the process list)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="snapshot folder (created)")
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="only items, stage moves, activities and tasks changed or made since TIME, and "
        "list elements made since (ISO-8601 with an offset); templates, running instances and "
        "Drive files are always whole",
    )
    parser.add_argument(
        "--types",
        metavar="TYPES",
        help="CRM types to pull, e.g. deal,lead,dynamic_147 (default: every type with templates)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=8,
        help="tries of a throttled request before the pull stops (default 8)",
    )
    parser.add_argument(
        "--backoff",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="first wait after a throttled answer, doubled each time up to 60 s (default 1)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        metavar="PER_SECOND",
        help="requests per second once the first 50 are spent, the portal's limit (default 2)",
    )
    parser.set_defaults(run=cmd_pull)
