"""The distribution as a plain `pip install` leaves it: scenarios and examples travel with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A working tree's leftovers: an old build/ would hide a missing package-data glob.
NOT_SOURCES = shutil.ignore_patterns(
    ".*", "build", "dist", "demo", "*.egg-info", "__pycache__", "*.db", "*.db-*"
)
DATA = {
    "simulations/scenarios": "*.toml",
    "simulations/examples": "*.jsonl",
    "portal/examples/snapshot": "*.*",
    "portal/examples/snapshot/pages": "*.jsonl",
    "web/templates": "*.html",
}

RUN_FROM_THE_INSTALL = """
import contextlib, io, json, sys, tempfile
import simulations
from simulations.cli import main
from simulations.scenario import load, shipped
assert simulations.__file__.startswith(sys.argv[1]), simulations.__file__
for name in shipped():
    load(name)
with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    assert main(["portal", "example", folder + "/snapshot"]) == 0
    assert main(["portal", "audit", folder + "/snapshot", "--store", "memory:"]) == 0
import web
from web.app import page_templates
assert web.__file__.startswith(sys.argv[1]), web.__file__
pages = page_templates()
assert len([pages.get_template(name) for name in pages.list_templates()]) >= 7
print(json.dumps(sorted(shipped())))
sys.exit(main(["simulate", "typical-cloud", "--lines", "200", "--store", "memory:", "--json"]))
"""


def pip(*args: str, cwd: Path) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_a_plain_install_ships_every_scenario_and_runs_them(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(ROOT, sources, ignore=NOT_SOURCES)
    pip("wheel", "--no-deps", "--wheel-dir", str(tmp_path / "wheel"), str(sources), cwd=tmp_path)
    (wheel,) = (tmp_path / "wheel").glob("autostart_audit-*.whl")
    target = tmp_path / "installed"
    pip("install", "--no-deps", "--no-index", "--target", str(target), str(wheel), cwd=tmp_path)

    # Outside the working tree, with only the install ahead of the dependencies on the path.
    result = subprocess.run(
        [sys.executable, "-c", RUN_FROM_THE_INSTALL, str(target)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    listed, summary = result.stdout.split("\n", 1)
    scenarios = (ROOT / "simulations" / "scenarios").glob("*.toml")
    assert json.loads(listed) == sorted(path.stem for path in scenarios)
    assert json.loads(summary)["violations"] == []
    for folder, pattern in DATA.items():
        for source in (ROOT / folder).glob(pattern):
            assert (target / folder / source.name).read_bytes() == source.read_bytes()
