"""Installs for what you use: the core runs without the heavy extras, and names a missing one."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from simulations.cli import main

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "pandas", "matplotlib", "pyarrow", "psycopg", "psycopg_pool", "hypothesis", "nbconvert",
    "aiohttp", "fast_bitrix24", "jinja2",
)  # fmt: skip

# The command line with some modules made unimportable, as if their extra were not installed.
WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from simulations.cli import main
sys.exit(main(sys.argv[2:]))
"""


def autostart_without(
    modules: tuple[str, ...], *args: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, ",".join(modules), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("extras")
    traffic = folder / "example.jsonl"
    example = resources.files("simulations").joinpath("examples", "portal.jsonl")
    traffic.write_text(example.read_text("utf-8"), encoding="utf-8")
    assert main(["replay", str(traffic), "--store", str(folder / "s.db"),
                 "--decisions", str(folder / "d.jsonl")]) == 0  # fmt: skip
    return folder / "s.db"


def test_replay_why_check_and_simulate_run_with_no_heavy_extra_installed(
    store: Path, tmp_path: Path
) -> None:
    why = autostart_without(HEAVY, "why", "crm.deal:101", "--store", str(store), cwd=tmp_path)
    simulate = autostart_without(
        HEAVY, "simulate", "typical-cloud", "--lines", "300", "--store", "s.db", cwd=tmp_path
    )

    assert why.returncode == 0, why.stderr
    assert "template 11 v1: started AUTO_ON_ADD" in why.stdout
    assert simulate.returncode == 0, simulate.stderr
    assert "violations: none" in simulate.stdout


@pytest.mark.parametrize(
    ("missing", "args", "extra"),
    [
        (("matplotlib",), ["report", "--out", "figures"], "report"),
        (("pandas",), ["report", "--out", "figures"], "report"),
        (("pyarrow",), ["decisions", "--format", "parquet", "--out", "d.parquet"], "parquet"),
        (
            ("psycopg",),
            ["why", "crm.deal:101", "--store", "postgresql://u:s3cret@127.0.0.1:1/db"],
            "postgres",
        ),
        (("nbconvert",), ["notebooks", "--out", "html"], "notebooks"),
        (
            ("aiohttp",),
            ["portal", "pull", "--webhook", "http://127.0.0.1:1/rest/1/s3cret/", "--out", "snap"],
            "portal",
        ),
        (
            ("fast_bitrix24",),
            ["collect", "--listen", "127.0.0.1:0", "--store", "c.db", "--app-token-file", "t"],
            "portal",
        ),
        (("jinja2",), ["serve", "--listen", "127.0.0.1:0"], "web"),
        (("aiohttp",), ["serve", "--listen", "127.0.0.1:0"], "web"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_command_missing_its_extra_names_it_and_exits_2_without_a_traceback(
    store: Path, tmp_path: Path, missing: tuple[str, ...], args: list[str], extra: str
) -> None:
    if "--store" not in args and args[0] not in ("notebooks", "portal"):
        args = [*args, "--store", str(store)]

    result = autostart_without(missing, *args, cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert f"[{extra}] extra" in result.stderr
    assert f"pip install 'autostart-audit[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr
    assert not (tmp_path / "figures").exists()
    assert not (tmp_path / "d.parquet").exists()
    assert not (tmp_path / "snap").exists()
    assert not (tmp_path / "c.db").exists()


def test_the_core_install_needs_no_heavy_dependency_and_dev_installs_every_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]

    for heavy in (
        "pandas",
        "matplotlib",
        "pyarrow",
        "psycopg",
        "hypothesis",
        "jupyterlab",
        "aiohttp",
    ):
        assert heavy not in core
    assert {"postgres", "parquet", "report", "notebooks", "testing", "portal", "web"} <= set(extras)
    (everything,) = [d for d in extras["dev"] if d.startswith("autostart-audit[")]
    assert set(everything.split("[")[1].rstrip("]").split(",")) == {
        "postgres", "parquet", "report", "notebooks", "testing", "portal", "web"
    }  # fmt: skip


def test_no_module_of_the_project_imports_fcntl_so_it_starts_on_windows() -> None:
    sources = [
        path
        for folder in ("domain", "projections", "simulations", "portal")
        for path in (ROOT / folder).rglob("*.py")
    ]
    imported: list[str] = []

    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported += [f"{path.name}: {a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.append(f"{path.name}: {node.module}")

    assert len(sources) > 30
    assert not [entry for entry in imported if entry.endswith((": fcntl", ": msvcrt"))]
