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
# # Audit a portal
#
# **Question.** On a real portal's snapshot, which processes did the portal demonstrably start,
# which does the model expect with no way left to check, which were excluded and on what
# evidence, and where does the portal contradict the model?
#
# The snapshot is the example shipped with the package: the raw REST pages of a small cloud
# portal (deals, leads, a smart process, a Feed list, a Drive storage), as `portal pull` writes
# them. The audit replays the traffic it derives and puts each decision beside the evidence.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from portal.audit import audit_snapshot
from portal.frames import verdicts_frame
from simulations.cli import main

# The audit is deterministic: the same snapshot gives the same verdicts; nothing is drawn.
SEED = 0

# %% [markdown]
# ## The snapshot
# `autostart portal example DIR` writes it out; a `portal.toml` beside it says what REST cannot
# show (the plan, a template switched off, the time zone of list dates).

# %%
scratch = tempfile.TemporaryDirectory()
folder = Path(scratch.name) / "snapshot"
main(["portal", "example", str(folder)])
sorted(path.name for path in (folder / "pages").iterdir())

# %% [markdown]
# ## Audit it
# Into an in-memory store: every fetched record becomes an event, the derived traffic is
# replayed, and each (element, template, trigger) gets one verdict.

# %%
result = audit_snapshot(folder)
summary = result.summary()
summary["counts"]

# %%
frame = verdicts_frame(result)
frame[["element", "template", "trigger", "verdict", "channel", "reason", "confidence"]].head(10)

# %% [markdown]
# ## Verdicts by document type
# The verdict column is categorical: every verdict shows, even with no row.

# %%
by_type = pd.crosstab(frame["document_type"], frame["verdict"], dropna=False)
by_type

# %% [markdown]
# ## Verdicts by the channel the audit inferred

# %%
by_channel = pd.crosstab(frame["channel"], frame["verdict"], dropna=False)
by_channel[by_channel.sum(axis=1) > 0]

# %% [markdown]
# ## Anomalies first
# Evidence that should exist and does not, or a start the model says could not happen: the model,
# or the inference behind the channel, is wrong there.

# %%
anomalies = frame[frame["verdict"] == "anomaly"]
anomalies[["element", "template", "outcome", "reason", "rule", "signal", "confidence"]]

# %%
for note in anomalies["note"]:
    print("-", note)

# %% [markdown]
# ## How sure is each channel?
# Exclusions rest on inferred channels: an import from the stage history's insertion time
# (strong), a process-made deal from a missing creator (weak).

# %%
confidence = pd.crosstab(frame["confidence"], frame["verdict"], dropna=False)
confidence

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
by_type.plot.barh(stacked=True, ax=ax, colormap="tab10")
ax.set_xlabel("(element, template, trigger) verdicts")
ax.set_ylabel("")
ax.set_title("Verdicts by document type")
fig.tight_layout()

# %% [markdown]
# ## What the audit assumed
# REST cannot show the plan, the licence, whether a template is active, nor a list's switch.

# %%
assumptions = pd.DataFrame(summary["assumptions"])
assumptions[assumptions["source"] != "default"]

# %% [markdown]
# ## Workflows the model cannot place
# Robots and deleted templates run too: their ids are not in the template list.

# %%
pd.DataFrame(summary["unknown_templates"])[["workflow", "element", "template", "why"]]

# %% [markdown]
# ## Check
# Every verdict kind is present, and every excluded verdict names the model's reason.

# %%
present = set(frame["verdict"].astype(str))
excluded = frame[frame["verdict"] == "excluded"]
checks = {
    "every verdict kind": present == {"started", "expected, unverifiable", "excluded", "anomaly"},
    "every exclusion has a reason": bool(excluded["reason"].notna().all()),
    "unknown templates reported": len(summary["unknown_templates"]) > 0,
}
assert all(checks.values()), checks

# %% [markdown]
# ## Answer

# %%
counts = summary["counts"]
print(
    f"Of {len(frame)} (element, template, trigger) verdicts, {counts['started']} started with "
    f"the portal's own evidence, {counts['expected, unverifiable']} are expected but no source "
    f"can show them, {counts['excluded']} were excluded by the model, and "
    f"{counts['anomaly']} are anomalies: {', '.join(sorted(set(anomalies['element'])))}."
)
