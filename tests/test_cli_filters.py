"""Export filters refuse values that could never match; processes filter by their own columns."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from simulations.cli import main


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("filters")
    traffic = folder / "example.jsonl"
    example = resources.files("simulations").joinpath("examples", "portal.jsonl")
    traffic.write_text(example.read_text("utf-8"), encoding="utf-8")
    assert main(["replay", str(traffic), "--store", str(folder / "s.db"),
                 "--decisions", str(folder / "d.jsonl")]) == 0  # fmt: skip
    return folder / "s.db"


@pytest.mark.parametrize(
    ("kind", "option", "value", "says"),
    [
        ("decisions", "--outcome", "foo", "expected one of started, queued, rejected, skipped"),
        ("decisions", "--outcome", "Started", "written in lower case: started"),
        ("decisions", "--reason", "FOO", "expected one of CHANNEL_IMPORT"),
        ("decisions", "--reason", "channel_import", "written in capitals: CHANNEL_IMPORT"),
        ("decisions", "--channel", "carrier_pigeon", "expected one of bizproc"),
        ("decisions", "--document-type", "crm.deals", "a document type such as crm.deal"),
        ("decisions", "--element", "deal 101", "expected <document type>:<id>"),
        ("processes", "--outcome", "running", "is a status: --status running"),
        ("processes", "--outcome", "skipped", "expected one of started, queued"),
        ("processes", "--status", "done", "expected one of queued, starting, running"),
    ],
)
def test_a_filter_value_that_can_never_match_is_bad_input_naming_the_known_ones(
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    option: str,
    value: str,
    says: str,
) -> None:
    out = tmp_path / "rows.jsonl"

    code = main([kind, "--store", str(store), "--out", str(out), option, value])

    err = capsys.readouterr().err
    assert code == 2
    assert f"{option} {value!r}" in err
    assert says in err
    assert f"{kind} written" not in err
    assert not out.exists()


def test_processes_filter_by_status_exactly_as_filtering_the_full_list(
    store: Path, tmp_path: Path
) -> None:
    everything, queued = tmp_path / "all.jsonl", tmp_path / "completed.jsonl"

    assert main(["processes", "--store", str(store), "--out", str(everything)]) == 0
    assert main(["processes", "--store", str(store), "--out", str(queued),
                 "--status", "completed", "--template", "11"]) == 0  # fmt: skip

    rows = [json.loads(line) for line in everything.read_text().splitlines()]
    narrowed = [json.loads(line) for line in queued.read_text().splitlines()]
    expected = [r for r in rows if r["status"] == "completed" and r["template"] == 11]
    assert narrowed == expected
    assert 0 < len(narrowed) < len(rows)
