"""What one hypothetical traffic line would do to a store, explained, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.application import AutostartApplication, Workspace
from domain.decisions import Decision
from domain.errors import Refusal
from domain.starter import Starter
from projections.explain import explain_checks
from projections.locks import StoreBusyError, reading
from simulations.replay import apply_command
from simulations.traffic import BadLineError, parse_line


@dataclass
class DryRun:
    decisions: list[Decision] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [
            {**decision.as_dict(), "checks": explain_checks(decision.checks)}
            for decision in self.decisions
        ]


def dry_run(app: AutostartApplication, text: str) -> DryRun:
    """Decides `text` (one traffic line) against the store's present state; saves nothing.

    Raises StoreBusyError while a replay writes to the store, or while an interrupted one's
    events remain: the state is then half-made.
    """
    command = parse_line(text, 1)
    if command is None:
        raise BadLineError(1, None, "a traffic line (it is blank)")
    with reading(app.store, "run check-one"):
        killed = app.simulation().open_replay
        if killed is not None:
            raise StoreBusyError(
                f"{app.store.describe()} holds the events of a replay that was interrupted "
                f"(after event {killed}); the next replay takes them back: replay an empty "
                "file, then run check-one"
            )
        portal = app.portal()
        result = DryRun()
        starter = Starter(
            portal,
            app.templates(portal),
            app.simulation(),
            Workspace(app),
            on_decision=result.decisions.append,
            on_warning=result.warnings.append,
        )
        try:
            apply_command(starter, command)
        except Refusal as error:
            raise BadLineError.refused(1, error) from None
    return result
