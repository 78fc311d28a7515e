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
# # What if?
#
# **Question.** Last month's traffic of a typical cloud CRM portal is recorded. What would three
# configuration changes have done to it: switching template 12 to start on change too, a
# downgrade to the Basic plan, and a limit of one simultaneous process per document?
#
# Each change is replayed over the very same traffic and compared decision by decision with the
# recorded run: processes gained and lost, per template, channel and reason.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.container import BarContainer

from simulations.generate import generate
from simulations.scenario import load
from simulations.whatif import parse_setting, whatif, whatif_frame

SEED = 7
LINES = int(os.environ.get("AUTOSTART_NOTEBOOK_LINES", "20000"))

# %% [markdown]
# ## The recorded traffic
# Generated once from the `typical-cloud` scenario and written to a file, as a recorded month
# would be.

# %%
scratch = tempfile.TemporaryDirectory()
traffic = Path(scratch.name) / "month.jsonl"
with traffic.open("w") as out:
    for line in generate(load("typical-cloud"), events=LINES, seed=SEED):
        out.write(line + "\n")
print(f"{sum(1 for _ in traffic.open())} traffic lines")


# %%
def month() -> list[str]:
    return traffic.read_text().splitlines()


# %% [markdown]
# ## Three changes, each against the recorded run

# %%
changes = {
    "template 12 on change": "template.12.auto_execute=3",
    "Basic plan": "portal.plan=basic",
    "limit 1": "portal.limit_simultaneous_processes=1",
}
diffs = {name: whatif(month, [parse_setting(setting)]) for name, setting in changes.items()}
totals = pd.DataFrame(
    {
        name: {"gained": d.gained, "lost": d.lost, "outcome changed": d.outcome_changed}
        for name, d in diffs.items()
    }
).T
totals

# %%
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
totals.plot.bar(ax=ax, color=["#2a9d5c", "#d1495b", "#e9a23b"], rot=0)
for bars in ax.containers:
    if isinstance(bars, BarContainer):
        ax.bar_label(bars, fmt="{:,.0f}", fontsize=8)
ax.set_ylabel("processes (gained, lost) or decisions (outcome changed)")
ax.set_title("Against the recorded month: processes gained, lost, and outcomes changed")
ax.legend(title="compared with the recorded run")

# %% [markdown]
# ## Per template
# Where each change lands: the on-change switch only touches template 12; the plan downgrade
# loses every template's starts while it lasts.

# %%
per_template = whatif_frame(diffs, by="template")
per_template

# %%
# Only the changes that gain or lose processes get a panel: a limit changes outcomes instead.
moved = [name for name in diffs if name in per_template.index.get_level_values("change")]
fig, axs = plt.subplots(1, len(moved), figsize=(4 * len(moved) + 1, 4), sharey=True,
                        layout="constrained", squeeze=False)  # fmt: skip
for ax, name in zip(axs[0], moved, strict=True):
    frame = per_template.xs(name, level="change")[["gained", "lost"]]
    frame.plot.bar(ax=ax, color=["#2a9d5c", "#d1495b"], legend=False, rot=0)
    ax.set_title(name)
    ax.set_xlabel("template")
axs[0][0].set_ylabel("processes")
fig.legend(*axs[0][0].get_legend_handles_labels(), loc="outside right upper")
unmoved = [name for name in diffs if name not in moved]
fig.suptitle(
    "Processes gained and lost per template"
    + (f" ({', '.join(unmoved)}: none gained or lost)" if unmoved else "")
)

# %% [markdown]
# ## Why lost, why gained
# A lost process is grouped by the reason it gets under the change; a gained one by the reason
# it had in the recorded run.

# %%
reasons = whatif_frame(diffs, by="reason")
reasons

# %% [markdown]
# ## Per channel
# Through which channels did the changes come whose processes are gained or lost?

# %%
channels = whatif_frame(diffs, by="channel")
channels

# %% [markdown]
# ## Examples to audit
# A few elements of each group, with the traffic line, to look at with `autostart why`.

# %%
examples = [
    {"change": name, "template": t["template"], "element": e["element"], "line": e["line"]}
    for name, d in diffs.items()
    for t in d.as_dict()["by_template"]
    for e in t["gained_examples"] + t["lost_examples"]
]
pd.DataFrame(examples).head(10)

# %% [markdown]
# ## Check
# Turning on "on change" for template 12 can only gain its processes; a plan downgrade can only
# lose processes. A tighter limit loses no process outright: the starts it holds back are
# queued and run later, so they show as changed outcomes (started → queued), not as losses.

# %%
on_change, basic, limit = diffs.values()
expectations = {
    "on change only gains, only template 12": on_change.lost == 0
    and set(on_change.by_template) <= {12},
    "basic plan only loses": basic.gained == 0 and basic.lost > 0,
    "limit queues rather than loses": limit.outcome_changed > 0
    and set(limit.by_reason) <= {"LIMIT_QUEUED", None},
}
assert all(expectations.values()), expectations

# %% [markdown]
# ## Answer

# %%
print(
    f"Over {on_change.lines:,} traffic lines: starting template 12 on change too would have "
    f"started {on_change.gained:,} more processes; the Basic plan would have lost "
    f"{basic.lost:,}; a limit of one per document would have changed the outcome of "
    f"{limit.outcome_changed:,} decisions (starts held in the queue instead) while losing "
    f"{limit.lost:,} processes outright."
)
