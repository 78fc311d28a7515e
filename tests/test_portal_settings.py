"""A `portal` line changes the settings: what an edition or a plan brings, and what beats it."""

from __future__ import annotations

from domain.settings import PortalSettings


def test_a_new_edition_brings_its_limit_and_policy() -> None:
    settings = PortalSettings().changed({"edition": "on_premise"})

    assert (settings.edition, settings.limit, settings.limit_policy) == ("on_premise", 0, "reject")


def test_a_limit_the_line_gives_beats_the_editions_whatever_the_key_order() -> None:
    first = PortalSettings().changed({"limit_simultaneous_processes": 5, "edition": "on_premise"})
    last = PortalSettings().changed({"edition": "on_premise", "limit_policy": "queue"})

    assert (first.limit, first.limit_policy) == (5, "reject")
    assert (last.limit, last.limit_policy) == (0, "queue")


def test_the_same_edition_again_keeps_a_tuned_limit() -> None:
    settings = PortalSettings(limit_simultaneous_processes=7).changed({"edition": "cloud"})

    assert settings.limit == 7


def test_a_plan_switches_both_features_and_features_given_beat_it() -> None:
    free = PortalSettings().changed({"plan": "free"})
    mixed = PortalSettings().changed({"features": {"bizproc": True}, "plan": "free"})
    back = free.changed({"plan": "enterprise"})

    assert (free.bizproc, free.lists_processes) == (False, False)
    assert (mixed.bizproc, mixed.lists_processes) == (True, False)
    assert (back.bizproc, back.lists_processes) == (True, True)


def test_settings_a_line_does_not_give_stay_as_they_were() -> None:
    before = PortalSettings(telephony=False, start_bp_within_bp=True, licence="demo")

    after = before.changed({"email_integration": False})

    assert after == PortalSettings(
        telephony=False, start_bp_within_bp=True, licence="demo", email_integration=False
    )
