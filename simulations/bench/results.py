"""What a bench run measured, as figures: each beside its baseline, with the issue's targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulations.bench import SCENARIO
from simulations.bench.figures import Figure, Skipped, Target, median, render_table
from simulations.bench.measure import Measured

MIB = 1024 * 1024
# The targets (SQLite, 100k lines of typical-cloud; the PostgreSQL replay against COPY).
REPLAY_TARGET = {"sqlite": 0.12, "postgres": 0.1}
REBUILD_TARGET = Target(at_least=True, limit=1.5)
WHY_TARGET = Target(at_least=False, limit=1.5)
MEMORY_TARGET = Target(at_least=False, limit=1.5)
SIZE_TARGET = Target(at_least=False, limit=500, of="value")


@dataclass(frozen=True, slots=True)
class BenchResult:
    lines: int
    runs: int
    store: str
    events: int
    mean_state_bytes: float
    seconds: float
    figures: list[Figure | Skipped]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": SCENARIO,
            "lines": self.lines,
            "runs": self.runs,
            "store": self.store,
            "stored_events": self.events,
            "mean_state_bytes": round(self.mean_state_bytes, 1),
            "seconds": round(self.seconds, 1),
            "figures": {figure.name: figure.as_dict() for figure in self.figures},
        }

    def render(self) -> str:
        runs = "1 run" if self.runs == 1 else f"median of {self.runs} runs"
        heading = (
            f"autostart bench: {self.lines:,} traffic lines of {SCENARIO} "
            f"({self.events:,} stored events, {self.mean_state_bytes:,.0f} bytes of state each "
            f"on average) into {self.store}, {runs}, {self.seconds:,.0f} s in all"
        )
        notes = [
            "ratios compare figures measured in this one run; absolute figures drift with the "
            "machine's load"
        ]
        return render_table(heading, self.figures, notes)


def result_of(measured: Measured) -> BenchResult:
    return BenchResult(
        measured.lines,
        measured.runs,
        "PostgreSQL" if measured.kind == "postgres" else "SQLite",
        measured.stored.events,
        measured.stored.mean_state_bytes,
        measured.seconds,
        [
            *_replay_and_writes(measured),
            _rebuild(measured),
            _why(measured),
            _frame(measured),
            _memory(measured),
            _size(measured),
        ],
    )


def _replay_and_writes(measured: Measured) -> list[Figure | Skipped]:
    events, lines, writes = measured.stored.events, measured.lines, measured.writes
    replay_s, raw_s = (
        median([run.seconds for run in measured.replays]),
        median(measured.raw_seconds),
    )
    raw_name = "raw COPY" if measured.kind == "postgres" else "raw executemany"
    raw_rate = events / raw_s
    raw_shown = f"{raw_name} {raw_rate:,.0f} rows/s"
    written = writes.events / median(writes.batched)
    saved = writes.saved_events / median(writes.per_aggregate)
    return [
        Figure(
            "replay",
            events / replay_s,
            "events/s",
            f"{events / replay_s:,.0f} events/s ({lines / replay_s:,.0f} lines/s)",
            raw_name,
            raw_rate,
            raw_shown,
            events / replay_s / raw_rate,
            Target(at_least=True, limit=REPLAY_TARGET[measured.kind]),
            {
                "seconds": round(replay_s, 2),
                "lines_per_s": round(lines / replay_s, 1),
                "raw_seconds": round(raw_s, 3),
                "aggregates": measured.stored.aggregates,
            },
        ),
        Figure(
            "write_path",
            written,
            "events/s",
            f"{written:,.0f} events/s",
            raw_name,
            raw_rate,
            raw_shown,
            written / raw_rate,
            details={"batch_events": measured.batch_events, "batches": writes.batches},
        ),
        Figure(
            "write_path_vs_save",
            written,
            "events/s",
            f"{written:,.0f} events/s",
            "per-aggregate save()",
            saved,
            f"save() per aggregate {saved:,.0f} events/s (first {writes.saved_events:,})",
            written / saved,
            details={"saved_events": writes.saved_events, "saves": writes.saves},
        ),
    ]


def _rebuild(measured: Measured) -> Figure:
    events = measured.stored.events
    seconds, baseline_s = median(measured.rebuild_seconds), median(measured.decode_seconds)
    rate, baseline = events / seconds, events / baseline_s
    return Figure(
        "rebuild",
        rate,
        "events/s",
        f"{rate:,.0f} events/s",
        "library read-and-decode",
        baseline,
        f"library read-and-decode {baseline:,.0f} events/s",
        rate / baseline,
        REBUILD_TARGET,
        {"seconds": round(seconds, 3), "baseline_seconds": round(baseline_s, 3)},
    )


def _why(measured: Measured) -> Figure:
    big, small = median(measured.why_seconds), median(measured.small_why_seconds)
    return Figure(
        "why",
        big,
        "s",
        f"{big:.3f} s on {measured.stored.events:,} events",
        "why on a ~10k-event store",
        small,
        f"{small:.3f} s on {measured.small_events:,} events",
        big / small,
        WHY_TARGET,
        {
            "kind": measured.why_kind,
            "small_store_events": measured.small_events,
            "asked": len(measured.why_seconds),
        },
    )


def _frame(measured: Measured) -> Figure | Skipped:
    if measured.frames is None:
        return Skipped("frame", "pandas is not installed (the [report] extra)")
    loaded = median([each[0] for each in measured.frames])
    read = median([each[1] for each in measured.frames])
    return Figure(
        "frame",
        loaded,
        "s",
        f"{loaded:.3f} s for {measured.frames[0][2]:,} decisions",
        "pandas.read_sql",
        read,
        f"pandas.read_sql {read:.3f} s",
        loaded / read,
    )


def _memory(measured: Measured) -> Figure | Skipped:
    peaks = [run.peak_rss_bytes for run in measured.replays]
    tenth = [run.peak_rss_bytes for run in measured.tenth_replays]
    at_n, at_tenth = _median_mib(peaks), _median_mib(tenth)
    if at_n is None or at_tenth is None:
        return Skipped("memory", "this platform does not tell a child process's peak memory")
    return Figure(
        "memory",
        at_n,
        "MiB",
        f"{at_n:,.1f} MiB peak",
        "peak at N/10 lines",
        at_tenth,
        f"{at_tenth:,.1f} MiB at {measured.tenth_lines:,} lines",
        at_n / at_tenth,
        MEMORY_TARGET,
    )


def _median_mib(peaks: list[int | None]) -> float | None:
    known = [peak for peak in peaks if peak is not None]
    return median(known) / MIB if known and len(known) == len(peaks) else None


def _size(measured: Measured) -> Figure:
    sizes, events = measured.sizes, measured.stored.events
    whole = sizes.whole_bytes / events
    alone = sizes.events_bytes / events if sizes.events_bytes is not None else None
    return Figure(
        "store_size",
        whole,
        "B/event",
        f"{whole:,.0f} B/event ({sizes.whole_bytes / 1e6:,.1f} MB)",
        "events alone",
        alone,
        f"events alone {alone:,.0f} B/event"
        if alone is not None
        else "events alone: unknown (this SQLite has no dbstat)",
        None,
        SIZE_TARGET,
        {"store_bytes": sizes.whole_bytes, "events_bytes": sizes.events_bytes},
    )
