"""The named refusals: a command the model cannot accept records no event."""

from __future__ import annotations


class TrafficError(Exception):
    """A traffic line the model refuses: names the field and what was expected."""

    def __init__(self, field: str, expected: str, got: object = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        super().__init__(f"field '{field}': expected {expected}" + _got(got))


def _got(got: object) -> str:
    if got is None:
        return ""
    text = repr(got)
    return f", got {text[:80]}{'...' if len(text) > 80 else ''}"
