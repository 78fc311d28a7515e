"""A snapshot folder being written: one JSON Lines file of pages per request, the manifest last."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "autostart-snapshot/1"
MANIFEST = "manifest.json"
PULL_STATE = ".pull.json"  # what an unfinished pull was asked, so a resume asks the same


class SnapshotError(Exception):
    """DIR cannot take this pull; the message says why and what to do."""


@dataclass(frozen=True)
class Request:
    """A method with the parameters that identify it (all but `start`), and its page file."""

    method: str
    params: dict[str, Any]
    file: str

    def entry(self, pages: int) -> dict[str, Any]:
        return {"method": self.method, "params": self.params, "file": self.file, "pages": pages}


class Snapshot:
    """DIR: pages are appended one line each; a pull is complete only once the manifest is there."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def begin(self, asked: Mapping[str, Any]) -> bool:
        """Starts a pull into DIR, or resumes the unfinished one asked the same; True on resume."""
        state_path = self.root / PULL_STATE
        if (self.root / MANIFEST).exists():
            raise SnapshotError(
                f"{self.root} already holds a complete snapshot; pull into a new folder"
            )
        if self.root.exists() and not self.root.is_dir():
            raise SnapshotError(f"{self.root} is not a folder")
        if state_path.is_file():
            try:
                before = json.loads(state_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                before = None
            if before != dict(asked):
                raise SnapshotError(
                    f"{self.root} holds an unfinished pull asked otherwise "
                    f"({_describe(before)}); run it again with the same portal, --since and "
                    "--types to resume it, or pull into a new folder"
                )
            return True
        if self.root.exists() and any(self.root.iterdir()):
            raise SnapshotError(f"{self.root} is not empty and holds no pull; use a new folder")
        (self.root / "pages").mkdir(parents=True, exist_ok=True)
        _write_atomically(state_path, dict(asked))
        return False

    def stored_pages(self, request: Request) -> list[dict[str, Any]]:
        """The pages an earlier run stored for the request; a torn last line is cut off."""
        path = self.root / request.file
        if not path.is_file():
            return []
        data = path.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        pages: list[dict[str, Any]] = []
        kept = 0
        for line in whole.splitlines(keepends=True):
            try:
                page = json.loads(line)
            except ValueError:
                break
            if not isinstance(page, dict):
                break
            pages.append(page)
            kept += len(line)
        if kept != len(data):
            with path.open("r+b") as handle:
                handle.truncate(kept)
        return pages

    def append(self, request: Request, page: Mapping[str, Any]) -> None:
        line = json.dumps(page, ensure_ascii=False, separators=(",", ":")) + "\n"
        path = self.root / request.file
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:
            handle.write(line.encode("utf-8"))

    def finish(self, manifest: Mapping[str, Any]) -> Path:
        """Writes the manifest, atomically and last: from now on DIR is a complete snapshot."""
        path = self.root / MANIFEST
        _write_atomically(path, manifest)
        (self.root / PULL_STATE).unlink(missing_ok=True)
        return path


def _write_atomically(path: Path, value: Mapping[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def _describe(state: Any) -> str:
    if not isinstance(state, dict):
        return "its record is unreadable"
    return ", ".join(f"{key} {value}" for key, value in state.items() if key != "format")
