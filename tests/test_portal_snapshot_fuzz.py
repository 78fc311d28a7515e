"""Fuzzed snapshots: a clear error naming the file, page and field, exit 2, nothing recorded."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from replaying import autostart

from portal.cli.audit import EXAMPLE

# The fields an audit cannot do without, per method: what the REST notes say proves a start,
# places an element in time, or ties it to a template.
REQUIRED = {
    "bizproc.workflow.template.list": ("ID", "AUTO_EXECUTE", "DOCUMENT_TYPE"),
    "bizproc.workflow.instances": ("ID", "TEMPLATE_ID", "DOCUMENT_ID", "STARTED", "STARTED_BY"),
    "bizproc.task.list": (
        "ID",
        "WORKFLOW_ID",
        "WORKFLOW_TEMPLATE_ID",
        "DOCUMENT_ID",
        "WORKFLOW_STARTED",
        "WORKFLOW_STARTED_BY",
        "STATUS",
    ),
    "crm.item.list": ("id", "createdTime", "createdBy"),
    "crm.stagehistory.list": ("ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME"),
    "crm.activity.list": ("ID", "OWNER_TYPE_ID", "OWNER_ID", "PROVIDER_ID", "CREATED"),
    "lists.element.get": ("ID", "DATE_CREATE", "CREATED_BY"),
    "disk.storage.getchildren": ("TYPE", "ID", "STORAGE_ID", "CREATE_TIME", "CREATED_BY"),
    "disk.file.getVersions": ("ID", "OBJECT_ID", "GLOBAL_CONTENT_VERSION", "CREATE_TIME"),
}
# Values of no type any of those fields may take.
WRONG: list[Any] = [None, [], {}, True, 1.5, {"value": "7"}]
MANIFEST_KEYS = ("format", "portal", "pulled_at", "types", "requests")


def example() -> Path:
    return Path(__file__).parent.parent.joinpath("portal", *EXAMPLE)


def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((example() / "manifest.json").read_text("utf-8"))
    return loaded


MANIFEST = _manifest()
REQUESTS = [r for r in MANIFEST["requests"] if r["method"] in REQUIRED]


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
    fields = REQUIRED[method]
    if method == "disk.storage.getchildren" and row.get("TYPE") != "file":
        return ("TYPE",)  # a folder is read no further
    return fields


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
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "snapshot"
    shutil.copytree(example(), folder)
    damage.apply(folder)
    store = root / "audit.db"
    note(repr(damage))

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


def test_a_page_missing_from_a_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "snapshot"
    shutil.copytree(example(), folder)
    pages = folder / "pages" / "crm.item.list.2.jsonl"
    pages.write_text(pages.read_text("utf-8") * 2, encoding="utf-8")

    code, _, err = autostart("portal", "audit", str(folder), "--store", str(tmp_path / "a.db"))

    assert code == 2
    assert "pages/crm.item.list.2.jsonl: expected 1 pages (one a line) as the manifest says" in err
    assert not (tmp_path / "a.db").exists()
