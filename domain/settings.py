"""Portal settings as they stand at one moment, and how a `portal` line changes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TypedDict, cast

EDITIONS = ("cloud", "on_premise")
PLANS = ("free", "basic", "standard", "professional", "enterprise")
LICENCES = ("paid", "nfr", "demo", "free")
POLICIES = ("queue", "reject")
FEATURES = ("bizproc", "lists_processes")

# [I]: no current official plan table; the free and basic plans lack both features.
PLANS_WITHOUT_FEATURES = ("free", "basic")
EDITION_LIMITS = {"cloud": (2, "queue"), "on_premise": (0, "reject")}
REST_LICENCES = ("paid", "nfr", "demo")


class Features(TypedDict, total=False):
    bizproc: bool
    lists_processes: bool


class PortalChanges(TypedDict, total=False):
    """A `portal` line's keys: the settings it changes (the features in their own object)."""

    edition: str
    plan: str
    licence: str
    features: Features
    email_integration: bool
    telephony: bool
    start_bp_within_bp: bool
    limit_simultaneous_processes: int
    limit_policy: str


class SettingsRecord(TypedDict):
    """The settings as the portal's events keep them: every field of PortalSettings."""

    edition: str
    plan: str
    licence: str
    bizproc: bool
    lists_processes: bool
    email_integration: bool
    telephony: bool
    start_bp_within_bp: bool
    limit_simultaneous_processes: int
    limit_policy: str


@dataclass(frozen=True, slots=True)
class PortalSettings:
    """The portal-wide switches that decide whether a template may start."""

    edition: str = "cloud"
    plan: str = "professional"
    licence: str = "paid"
    bizproc: bool = True
    lists_processes: bool = True
    email_integration: bool = True
    telephony: bool = True
    start_bp_within_bp: bool = False
    limit_simultaneous_processes: int = 2
    limit_policy: str = "queue"

    def changed(self, changes: PortalChanges) -> PortalSettings:
        """The settings after a `portal` line giving `changes` (already validated).

        A new edition brings its limit and policy, a new plan switches both features on or off;
        a value the line gives itself beats either.
        """
        edition = changes.get("edition", self.edition)
        limit, policy = self.limit_simultaneous_processes, self.limit_policy
        if edition != self.edition:
            limit, policy = EDITION_LIMITS[edition]
        bizproc, lists_processes = self.bizproc, self.lists_processes
        if "plan" in changes:
            bizproc = lists_processes = changes["plan"] not in PLANS_WITHOUT_FEATURES
        features = changes.get("features", {})
        return PortalSettings(
            edition=edition,
            plan=changes.get("plan", self.plan),
            licence=changes.get("licence", self.licence),
            bizproc=features.get("bizproc", bizproc),
            lists_processes=features.get("lists_processes", lists_processes),
            email_integration=changes.get("email_integration", self.email_integration),
            telephony=changes.get("telephony", self.telephony),
            start_bp_within_bp=changes.get("start_bp_within_bp", self.start_bp_within_bp),
            limit_simultaneous_processes=changes.get("limit_simultaneous_processes", limit),
            limit_policy=changes.get("limit_policy", policy),
        )

    def as_dict(self) -> SettingsRecord:
        # SettingsRecord lists this class's fields (tests/test_typed_records.py holds them equal).
        return cast("SettingsRecord", asdict(self))

    @property
    def limit(self) -> int:
        return self.limit_simultaneous_processes
