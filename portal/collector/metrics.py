"""The collector's counters, shown on `GET /metrics` in Prometheus's text format."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

PREFIX = "autostart_collector"
# Upper bounds of the store-latency histogram, in seconds.
# Why a poll was not made: every series is shown from the start, at 0.
SKIP_REASONS = ("budget", "portal_error", "queue_full", "shutdown")
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class Metrics:
    """Counts since the process started; labels are fixed words, never request data."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    store_errors: int = 0
    polls_done: int = 0
    polls_skipped: Counter[str] = field(
        default_factory=lambda: Counter(dict.fromkeys(SKIP_REASONS, 0))
    )
    store_buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    store_seconds: float = 0.0
    store_commits: int = 0

    def commit(self, seconds: float, _size: int) -> None:
        self.store_buckets[bisect_left(BUCKETS, seconds)] += 1
        self.store_seconds += seconds
        self.store_commits += 1

    def summary(self) -> dict[str, int]:
        """The counts a log line gives."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": sum(self.rejected.values()),
            "polls_done": self.polls_done,
            "polls_skipped": sum(self.polls_skipped.values()),
        }

    def render(self) -> str:
        lines: list[str] = []

        def counter(name: str, about: str, values: dict[str, int], label: str = "") -> None:
            lines.append(f"# HELP {PREFIX}_{name} {about}")
            lines.append(f"# TYPE {PREFIX}_{name} counter")
            for key, value in sorted(values.items()):
                labels = f'{{{label}="{key}"}}' if label else ""
                lines.append(f"{PREFIX}_{name}{labels} {value}")

        counter("events_accepted_total", "Deliveries recorded.", {"": self.accepted})
        counter("events_duplicate_total", "Deliveries already recorded.", {"": self.duplicates})
        counter("events_rejected_total", "Deliveries refused, by reason.", self.rejected, "reason")
        counter("store_errors_total", "Saves the store refused.", {"": self.store_errors})
        counter("polls_done_total", "Evidence polls made.", {"": self.polls_done})
        counter(
            "polls_skipped_total",
            "Evidence polls not made, by reason.",
            self.polls_skipped,
            "reason",
        )
        name = f"{PREFIX}_store_commit_seconds"
        lines.append(f"# HELP {name} Time to save one batch of deliveries.")
        lines.append(f"# TYPE {name} histogram")
        total = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.store_buckets, strict=True):
            total += count
            shown = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{name}_bucket{{le="{shown}"}} {total}')
        lines.append(f"{name}_sum {self.store_seconds:.6f}")
        lines.append(f"{name}_count {self.store_commits}")
        return "\n".join(lines) + "\n"
