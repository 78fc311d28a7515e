"""`autostart portal pull`."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Adds the `pull` commands to `autostart portal`."""
