"""What a JSON document holds: the type of the traffic's free-form values (fields, parameters)."""

from __future__ import annotations

from typing import TypeAlias

# Lists and objects, not sequences and mappings: a value kept in an event comes back from the
# store as exactly these, so a live aggregate and a replayed one hold the same types.
JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"
