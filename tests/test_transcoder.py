"""The event store's orjson transcoder: the library's own test case, and the library's bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoder,
    UUIDAsHex,
)
from eventsourcing.tests.persistence import (
    CustomType1AsDict,
    CustomType2AsDict,
    Mydict,
    MyInt,
    MyList,
    MyStr,
    TranscoderTestCase,
)

from domain.portal import Portal
from domain.stores import parse_store
from domain.transcoder import OrjsonTranscoder
from simulations.replay import open_store


class TestOrjsonTranscoder(TranscoderTestCase):
    """The library's test case, set up as the library sets up its own JSONTranscoder's."""

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        transcoder.register(CustomType1AsDict())
        transcoder.register(CustomType2AsDict())
        transcoder.register(UUIDAsHex())
        return transcoder

    # The library skips these six for its own JSONTranscoder: JSON has no tuple, and a subclass
    # without a transcoding is written as its base. Here each asserts that ours does exactly
    # what the library's does with them, byte for byte.
    def _as_the_library_does(self, obj: object) -> None:
        library = JSONTranscoder()
        library.register(UUIDAsHex())
        data = self.transcoder.encode(obj)
        assert data == library.encode(obj)
        assert self.transcoder.decode(data) == library.decode(data)

    def test_tuple(self) -> None:
        for obj in ((), ((),), ((1, 2),), (("a", "b"),), ((1, "a"),)):
            self._as_the_library_does(obj)
        assert self.transcoder.decode(self.transcoder.encode((1, (2,)))) == [1, [2]]

    def test_mixed(self) -> None:
        for obj in ([(1, "a"), {"b": 2}], ([1, "a"], {"b": 2}), {"a": (1, 2), "b": [3, 4]}):
            self._as_the_library_does(obj)

    def test_dict_subclass(self) -> None:
        self._as_the_library_does(Mydict({"a": 1}))

    def test_list_subclass(self) -> None:
        self._as_the_library_does(MyList((("a", 1),)))

    def test_str_subclass(self) -> None:
        self._as_the_library_does(MyStr("a"))

    def test_int_subclass(self) -> None:
        self._as_the_library_does(MyInt(3))


del TranscoderTestCase


class Colour(StrEnum):
    RED = "red"


class Mixed(str, Enum):  # noqa: UP042 - the older form: `str()` of a member is its name
    BLUE = "blue"


class Size(IntEnum):
    BIG = 3


def _both() -> tuple[JSONTranscoder, OrjsonTranscoder]:
    pair = (JSONTranscoder(), OrjsonTranscoder())
    for transcoder in pair:
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(transcoding)
    return pair


_AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
_SAME_INSTANT = _AT.astimezone(timezone(timedelta(hours=3)))

SAMPLES: list[object] = [
    # One timestamp object shared, then an equal instant in another offset, then it again.
    {"a": _AT, "b": _AT, "c": _SAME_INSTANT, "d": [_AT, _SAME_INSTANT]},
    {"timestamp": datetime(2026, 3, 2, 9, 0, 56, 375634, tzinfo=UTC), "line": 10},
    {"nested": [{"at": datetime(2026, 1, 1, tzinfo=UTC)}, ("a", 1)], "id": UUID(int=7)},
    {"money": Decimal("1.10"), "none": None, "yes": True, "pi": 3.25, "text": 'Привет "q"'},
    {"enums": [Colour.RED, Mixed.BLUE, Size.BIG], "big": 2**70, "neg": -(2**63)},
    {1: "int key"},
    # Strings that read like tags, a tag-shaped dict that is not one, a tag at the top.
    {"at": _AT, "text": "_type_", "_type_": "uuid_hex"},
    {"at": _AT, "shape": {"_type_": "nothing", "other": 1}},
    _AT,
    UUID(int=9),
    [],
    "plain",
]


def test_reads_what_only_the_library_writes() -> None:
    library, ours = _both()
    for sample in ({"x": float("nan"), "at": _AT}, {"big": 2**80, "at": _AT}):
        data = library.encode(sample)
        decoded = ours.decode(data)
        assert isinstance(decoded, dict)
        assert decoded["at"] == _AT
        assert library.encode(decoded) == data


@pytest.mark.parametrize("sample", SAMPLES, ids=range(len(SAMPLES)))
def test_writes_the_bytes_the_library_writes(sample: object) -> None:
    library, ours = _both()
    assert ours.encode(sample) == library.encode(sample)
    assert ours.decode(ours.encode(sample)) == library.decode(library.encode(sample))


def test_the_store_is_configured_with_it_and_read_back_by_the_plain_library(
    tmp_path: Path,
) -> None:
    store = parse_store(str(tmp_path / "s.db"))
    app = open_store(store)
    assert isinstance(app.mapper.transcoder, OrjsonTranscoder)
    portal = app.portal()
    app.save(portal)
    app.take_snapshot(portal.id)
    # The library's own application, with its default transcoder, reads what ours wrote.
    env = {k: v for k, v in store.env.items() if k != "TRANSCODER_TOPIC"}
    plain: Application[UUID] = Application(env)
    assert not isinstance(plain.mapper.transcoder, OrjsonTranscoder)
    copy: Portal = plain.repository.get(Portal.create_id())
    assert copy.version == portal.version
    assert copy.id == portal.id
    assert plain.snapshots is not None
    (snapshot,) = plain.snapshots.get(portal.id)
    assert snapshot.originator_version == portal.version
