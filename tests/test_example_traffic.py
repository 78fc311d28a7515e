"""The example traffic shipped with the package decides as the SPEC says, line by line."""

from __future__ import annotations

from importlib import resources

from replaying import decisions_of


def _example() -> list[str]:
    text = resources.files("simulations").joinpath("examples", "portal.jsonl").read_text()
    return text.splitlines()


def test_example_traffic_decides_as_the_readme_says() -> None:
    decisions = decisions_of(_example())

    by_line: dict[int, list[tuple[int, str, str]]] = {}
    for d in decisions:
        by_line.setdefault(d["line"], []).append((d["template"], d["outcome"], d["reason"]))
    assert by_line[11] == [
        (11, "started", "AUTO_ON_ADD"),
        (12, "started", "AUTO_ON_ADD"),
        (13, "skipped", "TEMPLATE_INACTIVE"),
    ]
    # A REST app's update goes through Bitrix's older starter: inactive template 13 queues too.
    assert by_line[14] == [
        (11, "queued", "LIMIT_QUEUED"),
        (12, "skipped", "NOT_ON_CHANGE"),
        (13, "queued", "LIMIT_QUEUED"),
    ]
    assert by_line[15] == [(t, "skipped", "TRIGGER_STAGE_CHANGE") for t in (11, 12, 13)]
    assert by_line[16][0] == (11, "skipped", "NO_CHANGES")
    assert by_line[17] == [(21, "skipped", "CHANNEL_IMPORT")] * 2
    assert by_line[20] == [(31, "skipped", "PARAMETER_REQUIRED")]
    assert by_line[21] == [(31, "started", "AUTO_ON_ADD")]
    assert by_line[22] == [(31, "skipped", "CHANNEL_DIRECT_API")]
    assert by_line[23] == [(41, "started", "AUTO_ON_ADD"), (42, "skipped", "PARAMETERS_MISMATCH")]
    assert by_line[24] == [(41, "skipped", "PARAMETERS_MISMATCH"), (42, "started", "AUTO_ON_ADD")]
    assert all(reason == "FEATURE_DISABLED" for _, _, reason in by_line[27])
    assert by_line[31] == [(51, "skipped", "CONSTANTS_NOT_TUNED")]
    assert by_line[32] == [
        (11, "started", "AUTO_ON_CHANGE"),
        (12, "skipped", "NOT_ON_CHANGE"),
        (13, "started", "AUTO_ON_CHANGE"),
    ]
    assert by_line[33] == [(t, "skipped", "CHANNEL_INNER") for t in (11, 12, 13)]
    assert set(by_line) == {11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
                            31, 32, 33}  # fmt: skip
