# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Audit one element
#
# **Question.** For a few elements with telling histories — an item imported and later edited by
# hand, a web-form duplicate, a deal whose process had to queue, a lead made by a process — why
# did each process start or not, and when did it run?
#
# Bitrix24 records that a workflow started, never why one did not. Here every decision carries
# its checks, read back from the ledger.

# %%
# %matplotlib inline
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from domain.stores import parse_store
from projections.database import ReadDatabase
from projections.explain import Query, explain
from projections.queries import elements_with
from simulations.render import render_explanation
from simulations.scenario import load
from simulations.simulate import simulate
from simulations.timeline import timeline_figure

SEED = 7
LINES = int(os.environ.get("AUTOSTART_NOTEBOOK_LINES", "20000"))

# %%
scratch = tempfile.TemporaryDirectory()
store = parse_store(str(Path(scratch.name) / "typical-cloud.db"))
result = simulate(load("typical-cloud"), store, events=LINES, seed=SEED)
db = ReadDatabase(store)
print(f"{result.summary['decisions']} decisions, violations: {len(result.violations)}")

# %% [markdown]
# ## Find elements with interesting histories

# %%
picks = {
    kind: elements_with(db, kind, limit=1)
    for kind in ("imported_then_edited", "web_form_duplicate", "queued", "cascade")
}
picks

# %% [markdown]
# ## An import later edited by hand
# The import itself is refused by `CHANNEL_IMPORT` (CRM's import operation keeps bizproc
# "always disabled"); the hand edit afterwards is an ordinary change.

# %%
imported = picks["imported_then_edited"][0]
imported_story = explain(db, Query(imported))
print(render_explanation(imported_story)[:3000])

# %%
fig = timeline_figure(imported_story)
fig

# %% [markdown]
# ## A web-form duplicate
# A form matched to an existing element is a **change** of that element (channel `web_form`).

# %%
duplicate = picks["web_form_duplicate"][0]
duplicate_story = explain(db, Query(duplicate))
[(c["revision"], c["op"], c["channel"]) for c in duplicate_story["changes"]]

# %% [markdown]
# ## A queued process
# With two instances running on the document (the cloud limit), the next one waits; the timeline,
# zoomed on the first wait, shows it as a thin line before the bar.

# %%
queued = picks["queued"][0]
queued_story = explain(db, Query(queued))
waits = [
    d["process_status"]
    for c in queued_story["changes"]
    for d in c["decisions"]
    if d["outcome"] == "queued"
]
waits[0]

# %%
waited_from = datetime.fromisoformat(waits[0]["queued_at"])
around = (waited_from - timedelta(minutes=30), waited_from + timedelta(hours=2))
fig = timeline_figure(queued_story, window=around)
fig

# %% [markdown]
# ## A cascade
# A lead created by the smart-process template's action: its add came through `bizproc`, so it
# starts nothing (`CHANNEL_INNER`), and the explanation names the process that made it.

# %%
made = picks["cascade"][0]
made_story = explain(db, Query(made))
cause = made_story["changes"][0]["caused_by"]
cause

# %%
print(render_explanation(made_story)[:2000])

# %% [markdown]
# ## Check

# %%
first_import = imported_story["changes"][0]
stories_hold = {
    "import refused by CHANNEL_IMPORT": first_import["channel"] == "import"
    and {d["reason"] for d in first_import["decisions"]} <= {"CHANNEL_IMPORT"},
    "duplicate is a web-form change": any(
        c["channel"] == "web_form" and c["op"] == "update" for c in duplicate_story["changes"]
    ),
    "queued process waited": bool(waits) and waits[0]["queued_at"] is not None,
    "cascade names its process": cause is not None
    and made_story["changes"][0]["channel"] == "bizproc",
}
assert all(stories_hold.values()), stories_hold

# %% [markdown]
# ## Answer

# %%
later = [c for c in imported_story["changes"] if c["op"] == "update" and c["depth"] == 0]
started_later = sum(d["outcome"] == "started" for c in later for d in c["decisions"])
print(
    f"{imported} was imported (no process: CHANNEL_IMPORT) and then changed {len(later)} times "
    f"by hand, starting {started_later} processes. {queued}'s process queued at "
    f"{waits[0]['queued_at']} and started at {waits[0]['started_at']}. {made} was made by "
    f"process {cause['process']} of template {cause['template']} and started nothing itself."
)
db.close()
