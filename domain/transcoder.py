"""The event store's JSON, written by orjson: the library's own format, several times faster.

The library's `JSONTranscoder` encodes with the standard `json` module, about a tenth of a
replay's time. `OrjsonTranscoder` writes the very same document (a registered type as
`{"_type_": NAME, "_data_": ...}`, compact separators, UTF-8 text) with orjson, so a store written
by either is read by the other. It is a `JSONTranscoder` subclass, chosen through the library's
`TRANSCODER_TOPIC` setting, so the application registers its transcodings on it as usual.

orjson encodes `datetime` and subclasses of `str`, `int`, `dict` and `list` itself unless told to
pass them through: they are passed through to `_default`, which gives a registered transcoding
precedence and otherwise encodes them as the `json` module does. What orjson cannot encode at
all (integers beyond 64 bits, keys that are not strings) falls back to the library's encoder.
Decoding is msgspec's, with the registered values among an event's own fields turned back into
objects; a state with such values deeper down goes to the library's decoder. One
difference remains: orjson writes NaN and infinities as `null`, where `json` writes
`NaN`, which is not JSON. The traffic parser refuses them, so no event holds one.
"""

from __future__ import annotations

import re
from datetime import datetime

import msgspec
import orjson
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

# How orjson writes a UUID (it always encodes them itself): checked in C, after a cheap count.
_UUID_TEXT = re.compile(rb'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')
_UUID_HYPHENS = 4
_DECODER = msgspec.json.Decoder()
# A registered value is written as `{"_type_": NAME, "_data_": ...}`.
_TAG_KEYS = 2
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


class OrjsonTranscoder(JSONTranscoder):
    """The library's JSON transcoder: encoding with orjson, decoding with msgspec."""

    def __init__(self) -> None:
        super().__init__()
        # The last datetime tagged, and its tag: the events of one round share their timestamp
        # object, so it is written once. Identity, not equality: equal instants can differ in
        # offset. Only datetimes, which cannot change.
        self._last: tuple[object, object] = (None, None)

    def encode(self, obj: object) -> bytes:
        try:
            data = orjson.dumps(obj, default=self._default, option=_OPTIONS)
        except orjson.JSONEncodeError as error:
            if isinstance(error.__cause__, TranscodingNotRegisteredError):
                raise error.__cause__ from None
            return super().encode(obj)
        if data.count(b"-") >= _UUID_HYPHENS and _UUID_TEXT.search(data):
            # A UUID, or a string that reads like one: orjson writes a UUID as such a string,
            # never through `_default`, so only the library's encoder tags it as a UUID.
            return super().encode(obj)
        return data

    def decode(self, data: bytes) -> object:
        try:
            # msgspec, not orjson: orjson reads an integer beyond 64 bits as a float.
            state = _DECODER.decode(data)
        except msgspec.DecodeError:  # NaN, a lone surrogate: `json` reads them
            return super().decode(data)
        tags = data.count(b'"_type_"')
        if tags == 0:
            return state
        if type(state) is dict and tags <= len(state):
            # An event's state: its registered values (a timestamp) are its own top-level
            # fields. Decoded here when every `"_type_"` in the bytes is one of those.
            found = 0
            for key, value in state.items():
                if type(value) is dict and len(value) == _TAG_KEYS and "_type_" in value:
                    transcoding = self.names.get(value["_type_"])
                    if transcoding is None or "_data_" not in value:
                        break
                    state[key] = transcoding.decode(value["_data_"])
                    found += 1
            else:
                if found == tags:
                    return state
        # Tags deeper down, or anything unusual: the library's decoder, a dict at a time.
        return super().decode(data)

    def _default(self, obj: object) -> object:
        last, tagged = self._last
        if obj is last:
            return tagged
        transcoding = self.types.get(type(obj))
        if transcoding is not None:
            tagged = {"_type_": transcoding.name, "_data_": transcoding.encode(obj)}
            if type(obj) is datetime:
                self._last = (obj, tagged)
            return tagged
        # What `json` does with a subclass it has no transcoding for: writes it as its base
        # (`str.__str__` gives the characters of a `(str, Enum)` member, `str()` its name).
        if isinstance(obj, str):
            return str.__str__(obj)
        if isinstance(obj, int):
            return int.__int__(obj)
        if isinstance(obj, dict):
            return dict(obj)
        if isinstance(obj, list):
            return list(obj)
        return self._encode_obj(obj)  # raises the library's own TypeError
