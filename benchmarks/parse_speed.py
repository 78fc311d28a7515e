"""Times the traffic parser alone: microseconds a line over a traffic file (median of N runs)."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from simulations.traffic import parse_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("traffic", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    lines = args.traffic.read_text(encoding="utf-8").splitlines()
    timings = []
    for _ in range(args.runs):
        begin = time.perf_counter()
        for number, text in enumerate(lines, 1):
            parse_line(text, number)
        timings.append(time.perf_counter() - begin)
    each = sorted(t / len(lines) * 1e6 for t in timings)
    print(
        f"{len(lines)} lines: median {statistics.median(each):.2f} µs a line "
        f"(fastest {each[0]:.2f}, slowest {each[-1]:.2f}, {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
