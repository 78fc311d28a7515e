"""`autostart portal ...`: pull a real portal's snapshot over REST and audit it."""

from __future__ import annotations

from typing import Any

from portal.cli import audit, pull


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "portal",
        help="read a real Bitrix24 portal over REST and audit what its processes did",
        description="Read a real Bitrix24 portal over REST and audit what its processes did.",
    )
    group = parser.add_subparsers(dest="portal_command", required=True, metavar="PORTAL_COMMAND")
    for module in (pull, audit):
        module.register(group)
