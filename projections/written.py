"""The ledger rows of the events a replay writes, folded as it writes them.

Reading a replay's events back from the store and decoding them took about a third of
`autostart replay`. The replay already holds each event it stores, with its position: it folds
them there and then, one page per stored batch, into the same rows the ledger would make, and
keeps the pages in a temporary file (memory stays flat however long the traffic). The pages go
into the read models only once the replay is final, through `projections.runner.catch_up`, in the
same transaction as the position and under the same lock as a page read back from the store; a
page that no longer starts right after the tracked position (another process folded part of it,
or events of another writer came between) is dropped, and those events are read back instead.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Self
from uuid import UUID

from eventsourcing.persistence import Recording

from projections.ledger import AuditLedger, Page


@dataclass(frozen=True, slots=True)
class WrittenPage:
    """The rows of the events stored at positions `first` to `last`, every one of them."""

    first: int
    last: int
    page: Page

    @property
    def events(self) -> int:
        return self.last - self.first + 1


class WrittenPages:
    """Pages folded from stored batches, in the order stored; read once, front to back."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - see close()
        # Named from what the replay says, never from the tables (they lag until it is final).
        self._ledger = AuditLedger(None)
        self._fold = self._ledger.fold
        self._written = 0
        self._read = 0
        self._taken = 0
        self._next: WrittenPage | None = None

    @property
    def pages(self) -> int:
        """Pages folded so far."""
        return self._written

    @property
    def taken(self) -> int:
        """Pages that went into the read models as they were folded."""
        return self._taken

    def stored(self, recordings: Sequence[Recording[UUID]], names: Mapping[UUID, str]) -> None:
        """Folds one stored batch (`domain.application.OnStored`)."""
        if not recordings:
            return
        positions = [recording.notification.id for recording in recordings]
        if positions != list(range(positions[0], positions[0] + len(positions))):
            # Not one run of positions (another writer came between): read back instead.
            return
        # Every event of the batch belongs to an element named here: nothing older is needed.
        self._ledger.names.clear()
        for stream, name in names.items():
            self._ledger.remember(stream, name)
        page = Page()
        for recording, position in zip(recordings, positions, strict=True):
            self._fold(recording.domain_event, position, page)
        written = WrittenPage(positions[0], positions[-1], page)
        pickle.dump(written, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._written += 1

    def next_after(self, done: int) -> WrittenPage | None:
        """The first page that starts after position `done`; those before it are dropped."""
        while self._next is None or self._next.first <= done:
            if self._read == self._written:
                self._next = None
                return None
            if self._read == 0:
                self._file.seek(0)
            self._next = pickle.load(self._file)
            self._read += 1
        return self._next

    def take(self) -> None:
        """The page `next_after` returned is in the read models."""
        self._next = None
        self._taken += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
