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
# # Which processes start, and why not?
#
# **Question.** On a typical cloud CRM portal, which adds and changes start a business process,
# and for the rest, which rule stops them — and through which channels do they arrive?
#
# We simulate the shipped `typical-cloud` scenario (forms, calls, mail, open lines, REST apps,
# imports, robots, six days of lapsed licence and a day and a half on the Basic plan, over a
# month), load the decision ledger as a frame and break it down.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from domain.stores import parse_store
from projections.frames import decisions_frame
from simulations.reports import decisions_by_channel, exclusion_matrix
from simulations.scenario import load
from simulations.simulate import simulate

SEED = 7
LINES = int(os.environ.get("AUTOSTART_NOTEBOOK_LINES", "20000"))

# %% [markdown]
# ## Simulate a month of traffic
# The run is checked against the SPEC's laws as it goes: a violation would mean the model broke
# one of Bitrix24's exclusions.

# %%
scratch = tempfile.TemporaryDirectory()
store = str(Path(scratch.name) / "typical-cloud.db")
result = simulate(load("typical-cloud"), parse_store(store), events=LINES, seed=SEED)
print(f"{result.replay.lines} traffic lines, {result.summary['decisions']} decisions")
print(f"violations: {len(result.violations)}")

# %%
decisions = decisions_frame(store)
decisions.head()

# %% [markdown]
# ## Outcomes
# Every add or change gets one decision per template of its document type. Categorical columns
# list every outcome of the SPEC, so a zero count still shows.

# %%
outcomes = decisions["outcome"].value_counts(sort=False)
outcomes

# %%
share_started = outcomes["started"] / outcomes.sum()
print(f"{share_started:.1%} of decisions start a process")

# %% [markdown]
# ## By channel
# Which channels bring the changes that start processes, and which never do?

# %%
by_channel = pd.crosstab(decisions["channel"], decisions["outcome"], dropna=False)
by_channel = by_channel[by_channel.sum(axis=1) > 0]
by_channel

# %%
fig = decisions_by_channel(decisions)  # the report's colours: red is rejected, grey skipped

# %% [markdown]
# ## Why not?
# The reason of every decision that did not start a process, most frequent first.

# %%
not_started = decisions[decisions["outcome"] != "started"]
reasons = not_started["reason"].value_counts()
reasons[reasons > 0]

# %%
fig, ax = plt.subplots(figsize=(9, 5))
reasons[reasons > 0].sort_values().plot.barh(ax=ax, color="tab:gray")
ax.set_xlabel("decisions")
ax.set_title("Why processes did not start")
fig.tight_layout()

# %% [markdown]
# ## The exclusion matrix
# Channel × reason: which rule stops which channel. Imports only ever meet `CHANNEL_IMPORT`,
# process- and robot-made changes `CHANNEL_INNER` (a robot's "Change stage" action too), an
# automation trigger moving a deal's or lead's stage `TRIGGER_STAGE_CHANGE`, and the legacy
# REST channel alone meets `REST_LICENCE` while the licence had lapsed.

# %%
matrix = pd.crosstab(not_started["channel"], not_started["reason"], dropna=False)
matrix = matrix.loc[matrix.sum(axis=1) > 0, matrix.sum(axis=0) > 0]
matrix

# %%
fig = exclusion_matrix(decisions)  # log colour scale: a handful and thousands both show

# %% [markdown]
# ## Legacy REST: Bitrix's older starter
# `crm.deal.update` and the other legacy REST calls start templates through
# `CBPDocument::autoStartWorkflows`, which looks at neither `active` nor constants and starts
# on-change templates even when no field changed. In this portal template 13 is inactive and
# template 32 has a required constant without a value: they start through legacy REST only.

# %%
started_anyway = decisions[
    decisions["template"].isin([13, 32]) & decisions["outcome"].isin(["started", "queued"])
]
started_anyway.groupby(["template", "channel"], observed=True).size()

# %% [markdown]
# ## Check
# No import ever started a process, the legacy REST gate is the only place `REST_LICENCE`
# appears, and the inactive and untuned templates start through legacy REST alone.

# %%
imports = decisions[decisions["channel"] == "import"]
licence_channels = set(decisions.loc[decisions["reason"] == "REST_LICENCE", "channel"])
laws_hold = {
    "no import started a process": bool((imports["outcome"] == "skipped").all()),
    "only legacy REST meets the licence gate": licence_channels <= {"rest"},
    "inactive and untuned templates start through legacy REST alone": set(started_anyway["channel"])
    <= {"rest"},
    "no law violated": result.violations == [],
}
assert all(laws_hold.values()), laws_hold

# %% [markdown]
# ## Answer

# %%
top_reason = reasons.index[0]
top_start_channel = by_channel["started"].idxmax()
print(
    f"Of {len(decisions):,} decisions, {share_started:.0%} started a process. "
    f"Most starts come through '{top_start_channel}'. "
    f"The most frequent reason a process did not start is {top_reason} "
    f"({reasons.iloc[0]:,} decisions); imports ({len(imports):,} decisions) never started one."
)
