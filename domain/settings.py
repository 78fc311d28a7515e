"""Portal settings as they stand at one moment, and how a `portal` line changes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

EDITIONS = ("cloud", "on_premise")
PLANS = ("free", "basic", "standard", "professional", "enterprise")
LICENCES = ("paid", "nfr", "demo", "free")
POLICIES = ("queue", "reject")
FEATURES = ("bizproc", "lists_processes")

# [I]: no current official plan table; the free and basic plans lack both features.
PLANS_WITHOUT_FEATURES = ("free", "basic")
EDITION_LIMITS = {"cloud": (2, "queue"), "on_premise": (0, "reject")}
REST_LICENCES = ("paid", "nfr", "demo")


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

    def changed(self, changes: dict[str, Any]) -> PortalSettings:
        """The settings after a `portal` line giving `changes` (already validated)."""
        values: dict[str, Any] = {}
        edition = changes.get("edition", self.edition)
        if edition != self.edition:
            limit, policy = EDITION_LIMITS[edition]
            values |= {"limit_simultaneous_processes": limit, "limit_policy": policy}
        if "plan" in changes:
            enabled = changes["plan"] not in PLANS_WITHOUT_FEATURES
            values |= {"bizproc": enabled, "lists_processes": enabled}
        for key, value in changes.items():
            if key == "features":
                values |= value
            else:
                values[key] = value
        return replace(self, **values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def limit(self) -> int:
        return self.limit_simultaneous_processes
