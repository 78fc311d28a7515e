"""`autostart portal audit`."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Adds the `audit` commands to `autostart portal`."""
