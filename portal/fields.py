"""One record's fields read with the quirks portals show: numbers as strings or ints, locale
dates, and every error naming the file, the page and the field."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from portal.snapshot import Record, SnapshotError, parse_time
from portal.targets import as_int

_LOCALE_US = re.compile(
    r"^(\d{2})/(\d{2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ?([ap]m)$", re.IGNORECASE
)
_LOCALE_DOTS = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{1,2}):(\d{2}):(\d{2})$")


class Fields:
    """Reads one record's fields, each error naming the file, the page and the field.

    The essential readers (`integer`, `user`, `text`, `time`) refuse a field that is absent,
    null or empty; the `optional_*` ones take it as unknown and note its name in `unknown`.
    """

    def __init__(self, record: Record) -> None:
        self.record = record
        self.data = record.data
        self.unknown: list[str] = []

    def given(self, name: str) -> bool:
        """Whether the field holds a value; absent (a `select` left it out), null or empty
        counts as unknown and is noted."""
        if self.data.get(name) in (None, ""):
            self.unknown.append(name)
            return False
        return True

    def fail(self, name: str, expected: str, got: Any = None) -> SnapshotError:
        record = self.record
        return SnapshotError(
            record.request.file, record.page, f"{record.path}.{name}", expected, got
        )

    def raw(self, name: str) -> Any:
        if name not in self.data:
            raise self.fail(name, "the field (it is missing; the audit cannot do without it)")
        return self.data[name]

    def integer(self, name: str, *, positive: bool = True) -> int:
        value = self.raw(name)
        number = as_int(value)
        if number is None or (positive and number <= 0):
            raise self.fail(name, "a positive integer (a number or a numeric string)", value)
        return number

    def user(self, name: str) -> int:
        """A user id: 0 means no user context."""
        value = self.raw(name)
        number = as_int(value)
        if number is None or number < 0:
            raise self.fail(name, "a user id (0 or more, a number or a numeric string)", value)
        return number

    def optional_int(self, name: str) -> int | None:
        if not self.given(name):
            return None
        value = self.data[name]
        number = as_int(value)
        if number is None:
            raise self.fail(name, "an integer, null or empty", value)
        return number

    def optional_user(self, name: str) -> int | None:
        """A user id (0: no user context), or None when the record does not say."""
        return self.user(name) if self.given(name) else None

    def text(self, name: str) -> str:
        value = self.raw(name)
        if not isinstance(value, str) or not value:
            raise self.fail(name, "a non-empty string", value)
        return value

    def optional_text(self, name: str) -> str | None:
        if not self.given(name):
            return None
        value = self.data[name]
        if not isinstance(value, str):
            raise self.fail(name, "a string or null", value)
        return value

    def optional_time(self, name: str, tz: timezone | None = None) -> datetime | None:
        return self.time(name, tz) if self.given(name) else None

    def time(self, name: str, tz: timezone | None = None) -> datetime:
        value = self.raw(name)
        at = parse_time(value)
        if at is None and tz is not None:
            at = locale_time(value, tz)
        if at is None:
            expected = "an ISO-8601 time with an offset"
            if tz is not None:
                expected += " or a locale date such as '12/31/2024 11:59:59 pm'"
            raise self.fail(name, expected, value)
        return at


def locale_time(value: Any, tz: timezone) -> datetime | None:
    """A list's date in the portal's locale format (`12/31/2024 11:59:59 pm`, `31.12.2024 ...`)."""
    if not isinstance(value, str):
        return None
    try:
        if match := _LOCALE_US.match(value.strip()):
            month, day, year, hour, minute, second, half = match.groups()
            hour12 = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
            return datetime(
                int(year), int(month), int(day), hour12, int(minute), int(second), tzinfo=tz
            )
        if match := _LOCALE_DOTS.match(value.strip()):
            day, month, year, hour, minute, second = match.groups()
            return datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz
            )
    except ValueError:
        return None
    return None


def offset(text: str) -> timezone:
    """`+03:00` as a timezone; raises ValueError when it is not an offset."""
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", text)
    if not match:
        raise ValueError(text)
    sign = 1 if match[1] == "+" else -1
    return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))
