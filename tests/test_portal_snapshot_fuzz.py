"""Fuzzed snapshots: a damaged one is refused with a clear error naming the file, page and
field, exit 2, nothing recorded; a record without a field the audit can do without is audited."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st
from replaying import autostart

from portal.cli.audit import EXAMPLE
from portal.records import ESSENTIAL, OPTIONAL

# Values of no type an essential field may take.
WRONG: list[Any] = [None, "", [], {}, True, 1.5, {"value": "7"}]
# How a real portal leaves out a field the audit can do without.
UNKNOWN = ("missing", None, "")
MANIFEST_KEYS = ("format", "portal", "pulled_at", "types", "requests")


def example() -> Path:
    return Path(__file__).parent.parent.joinpath("portal", *EXAMPLE)


def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((example() / "manifest.json").read_text("utf-8"))
    return loaded


MANIFEST = _manifest()
REQUESTS = [r for r in MANIFEST["requests"] if r["method"] in ESSENTIAL]
RECORDS = 45


@dataclass(frozen=True)
class Damage:
    """One thing wrong with a snapshot, and what the error must name."""

    file: str
    page: int | None
    field: str | None
    kind: str
    value: Any = None
    cut: float = 0.5

    def apply(self, folder: Path) -> None:
        path = folder / self.file
        if self.file == "manifest.json":
            manifest = json.loads(path.read_text("utf-8"))
            if self.kind == "missing":
                del manifest[self.field]
            else:
                manifest[self.field] = self.value
            path.write_text(json.dumps(manifest), encoding="utf-8")
            return
        lines = path.read_text("utf-8").splitlines()
        assert self.page is not None
        index = self.page - 1
        if self.kind == "truncated":
            lines[index] = lines[index][: max(1, int(len(lines[index]) * self.cut))]
        else:
            body = json.loads(lines[index])
            rows = body["result"]["items"] if isinstance(body["result"], dict) else body["result"]
            row_index, name = self.field.split(".", 1) if self.field else ("0", "")
            row = rows[int(row_index)]
            if self.kind == "missing":
                del row[name]
            else:
                row[name] = self.value
            lines[index] = json.dumps(body)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _rows(request: dict[str, Any]) -> list[dict[str, Any]]:
    body = json.loads((example() / request["file"]).read_text("utf-8").splitlines()[0])
    result = body["result"]
    rows: list[dict[str, Any]] = result["items"] if isinstance(result, dict) else result
    return rows


def _fields(method: str, row: dict[str, Any]) -> tuple[str, ...]:
    if method.startswith("disk.") and method.endswith("children") and row.get("TYPE") != "file":
        return ("TYPE",)  # a folder is read no further
    return ESSENTIAL[method]


def _optional(request: dict[str, Any], row: dict[str, Any]) -> tuple[str, ...]:
    fields = OPTIONAL[request["method"]]
    if request["method"] == "crm.item.list" and request["params"]["entityTypeId"] == 2:
        fields = tuple(name for name in fields if name != "webformId")  # deals have none
    return tuple(name for name in fields if name in row)


def damaged(damage: Damage, factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A copy of the example with `damage` done to it: (its folder's parent, it, a store)."""
    root = factory.mktemp("fuzz")
    folder = root / "snapshot"
    shutil.copytree(example(), folder)
    damage.apply(folder)
    note(repr(damage))
    return root, folder, root / "audit.db"


@st.composite
def damages(draw: st.DrawFn) -> Damage:
    kind = draw(st.sampled_from(["missing", "wrong", "truncated", "manifest"]))
    if kind == "manifest":
        key = draw(st.sampled_from(MANIFEST_KEYS))
        missing = draw(st.booleans())
        value = None if missing else draw(st.sampled_from([{}, True, 1.5, {"value": "7"}]))
        return Damage("manifest.json", None, key, "missing" if missing else "wrong", value)
    request = draw(st.sampled_from([r for r in REQUESTS if _rows(r)]))
    if kind == "truncated":
        cut = draw(st.floats(min_value=0.0, max_value=0.99))
        return Damage(request["file"], 1, None, "truncated", cut=cut)
    rows = _rows(request)
    index = draw(st.integers(min_value=0, max_value=len(rows) - 1))
    name = draw(st.sampled_from(_fields(request["method"], rows[index])))
    value = draw(st.sampled_from(WRONG))
    return Damage(request["file"], 1, f"{index}.{name}", kind, value)


@pytest.mark.slow
@given(damage=damages())
def test_a_damaged_snapshot_is_refused_naming_file_page_and_field(
    damage: Damage, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root, folder, store = damaged(damage, tmp_path_factory)

    code, out, err = autostart("portal", "audit", str(folder), "--store", str(store))

    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert damage.file in err
    if damage.page is not None:
        assert f"page {damage.page}" in err
    if damage.field is not None:
        name = damage.field.split(".", 1)[-1] if damage.file != "manifest.json" else damage.field
        assert "field '" in err
        assert name in err.split("field '", 1)[1].split("'", 1)[0]
    assert "expected" in err
    assert "nothing was recorded" in err
    assert not store.exists()
    assert list(root.iterdir()) == [folder]


@st.composite
def unknowns(draw: st.DrawFn) -> Damage:
    request = draw(st.sampled_from([r for r in REQUESTS if _rows(r)]))
    rows = _rows(request)
    index = draw(st.integers(min_value=0, max_value=len(rows) - 1))
    fields = _optional(request, rows[index])
    assume(fields)
    name = draw(st.sampled_from(fields))
    how = draw(st.sampled_from(UNKNOWN))
    kind = "missing" if how == "missing" else "wrong"
    return Damage(request["file"], 1, f"{index}.{name}", kind, None if kind == "missing" else how)


@pytest.mark.slow
@given(damage=unknowns())
def test_a_record_without_a_field_the_audit_can_do_without_is_audited(
    damage: Damage, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, folder, store = damaged(damage, tmp_path_factory)

    code, out, err = autostart("portal", "audit", str(folder), "--store", str(store), "--json")

    assert code == 0, err
    assert json.loads(out)["records"] == RECORDS
    assert store.exists()


def test_a_page_missing_from_a_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "snapshot"
    shutil.copytree(example(), folder)
    pages = folder / "pages" / "crm.item.list.2.jsonl"
    pages.write_text(pages.read_text("utf-8") * 2, encoding="utf-8")

    code, _, err = autostart("portal", "audit", str(folder), "--store", str(tmp_path / "a.db"))

    assert code == 2
    assert "pages/crm.item.list.2.jsonl: expected 1 pages (one a line) as the manifest says" in err
    assert not (tmp_path / "a.db").exists()
