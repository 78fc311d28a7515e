"""Compares this version's decisions with another revision's, byte for byte, on random traffic.

Usage: .venv/bin/python benchmarks/compare_decisions.py --against REV [--files 200] [--seed 1]

Writes `--files` random traffic files (a random shipped scenario, seed and length each), checks
out REV in a temporary git worktree, and replays every file into a fresh SQLite store under
both versions (one process each, this project's virtual environment, each version's own code
first on the path). Prints how many decisions were compared and every file whose decisions
differ; exits 1 if any does. A speed-up must not change a single byte of what users get.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from simulations.generate import generate
from simulations.scenario import load

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("typical-cloud", "heavy-import", "loop-prone", "on-premise-feed-drive")

# Run by each version, with that version's tree first on sys.path.
DRIVER = """
import io, sys, tempfile
from pathlib import Path
from domain.stores import parse_store
from simulations.replay import open_store, replay

import domain

traffic, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
(out.parent / (out.name + ".source")).write_text(domain.__file__)
for path in sorted(traffic.glob("*.jsonl")):
    with tempfile.TemporaryDirectory() as folder:
        app = open_store(parse_store(str(Path(folder) / "s.db")))
        buffer = io.StringIO()
        with path.open(encoding="utf-8") as lines:
            replay(app, lines, lambda source: buffer.write(source.read()), source=path.name)
        app.close()
    (out / path.name).write_text(buffer.getvalue(), encoding="utf-8")
"""


def _write_traffic(folder: Path, files: int, seed: int) -> None:
    rng = random.Random(seed)
    for number in range(files):
        scenario = rng.choice(SCENARIOS)
        lines = rng.randint(20, 800)
        traffic = generate(load(scenario), events=lines, seed=rng.randrange(1 << 30))
        path = folder / f"{number:04d}-{scenario}.jsonl"
        path.write_text("".join(line + "\n" for line in traffic), encoding="utf-8")


def _decide(tree: Path, traffic: Path, out: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", DRIVER, str(traffic), str(out)],
        check=True,
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )
    source = Path(out.parent / (out.name + ".source")).read_text()
    if not Path(source).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"the {out.name} run imported {source}, not the code of {tree}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the git revision to compare with")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        traffic, other = folder / "traffic", folder / "other"
        traffic.mkdir()
        _write_traffic(traffic, args.files, args.seed)
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(other), args.against],
            check=True,
            cwd=ROOT,
        )
        try:
            _decide(other, traffic, folder / "before")
            _decide(ROOT, traffic, folder / "after")
        finally:
            remove = ["git", "worktree", "remove", "--force", str(other)]
            subprocess.run(remove, check=False, cwd=ROOT)
        differ, decisions = [], 0
        for before in sorted((folder / "before").iterdir()):
            after = folder / "after" / before.name
            decisions += before.read_bytes().count(b"\n")
            if before.read_bytes() != after.read_bytes():
                differ.append(before.name)
    print(
        json.dumps(
            {"against": args.against, "files": args.files, "decisions": decisions, "differ": differ}
        )
    )
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
