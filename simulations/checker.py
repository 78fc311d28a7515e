"""The exclusion checker: the SPEC's laws stated directly on the ledger, never via the rules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from projections.database import ReadDatabase


@dataclass(frozen=True, slots=True)
class Violation:
    """A law broken: where, which event, what was expected and what happened."""

    law: str
    element: str
    event: str
    expected: str
    happened: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Law = Callable[[ReadDatabase, int], Iterator[Violation]]


def no_process_starts_from_an_import(db: ReadDatabase, _: int) -> Iterator[Violation]:
    for row in db.stream(
        "SELECT id, element, template, outcome, process FROM decisions "
        "WHERE channel = 'import' AND outcome IN ('started', 'queued') ORDER BY id"
    ):
        yield Violation(
            "no_process_starts_from_an_import",
            row["element"],
            f"decision {row['id']} (template {row['template']})",
            "skipped, CHANNEL_IMPORT",
            f"{row['outcome']} as {row['process']}",
        )


def cascades_end_within_the_bound(db: ReadDatabase, max_depth: int) -> Iterator[Violation]:
    for row in db.stream(
        "SELECT id, element, depth FROM decisions WHERE depth > ? ORDER BY id", (max_depth,)
    ):
        yield Violation(
            "cascades_end_within_the_bound",
            row["element"],
            f"decision {row['id']}",
            f"no decision deeper than {max_depth}",
            f"a decision at depth {row['depth']}",
        )


LAWS: tuple[Law, ...] = (
    no_process_starts_from_an_import,
    cascades_end_within_the_bound,
)


def check_store(db: ReadDatabase, *, max_depth: int = 20) -> list[Violation]:
    """Every violation of every law, law by law, in ledger order."""
    return [violation for law in LAWS for violation in law(db, max_depth)]
