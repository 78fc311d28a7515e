"""Test helpers: replay traffic given as Python objects and read back the decisions."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from domain.application import AutostartApplication
from domain.stores import parse_store
from simulations.cli import main
from simulations.replay import open_store, replay

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))


def at(minutes: float) -> str:
    """An ISO-8601 time `minutes` after the test epoch (2026-03-02 09:00 +03:00)."""
    return (START + timedelta(minutes=minutes)).isoformat()


def as_lines(traffic: Iterable[dict[str, Any] | str]) -> list[str]:
    return [t if isinstance(t, str) else json.dumps(t) for t in traffic]


def replay_into(
    app: AutostartApplication,
    traffic: Iterable[dict[str, Any] | str],
    *,
    max_depth: int = 20,
    warnings: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Replays `traffic` into an open store; returns the decisions as dicts."""
    out = io.StringIO()

    def deliver(source: IO[str]) -> None:
        out.write(source.read())

    replay(
        app,
        as_lines(traffic),
        deliver,
        max_depth=max_depth,
        on_warning=(warnings.append if warnings is not None else lambda _: None),
    )
    return [json.loads(line) for line in out.getvalue().splitlines()]


def decisions_of(
    traffic: Iterable[dict[str, Any] | str],
    store: str = "memory:",
    *,
    max_depth: int = 20,
    warnings: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Replays `traffic` into a fresh store; returns the decisions as dicts."""
    app = open_store(parse_store(store))
    try:
        return replay_into(app, traffic, max_depth=max_depth, warnings=warnings)
    finally:
        app.close()


@contextmanager
def opened(store: str) -> Iterator[AutostartApplication]:
    """An open store (a path, URL or memory:), closed afterwards."""
    app = open_store(parse_store(store))
    try:
        yield app
    finally:
        app.close()


def outcomes(decisions: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    """(element, template, outcome, reason) for each decision, in order."""
    return [(d["element"], d["template"], d["outcome"], d["reason"]) for d in decisions]


def autostart(*args: str) -> tuple[int, str, str]:
    """Runs the command line in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(list(args))
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()
