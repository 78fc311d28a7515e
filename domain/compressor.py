"""The event store's states, compressed with a dictionary trained on this model's own events.

An event's state is a few hundred bytes of JSON whose keys and rule names repeat from one event
to the next: alone, each compresses poorly (zlib: 418 to 274 bytes, 22 µs). With a dictionary
of what such states share, zstd writes the typical-cloud events in 61 bytes on average, at
about 1.5 µs to compress and 1 µs to decompress. `EventCompressor` is the library's
`Compressor`, chosen through its `COMPRESSOR_TOPIC` setting (see `domain.stores`).

Each frame names its dictionary, and every dictionary ever shipped stays in the package
(`domain/dictionaries/events-N.zdict`, made by `benchmarks/train_dictionary.py`): a store stays
readable when a newer dictionary is used for new events. States stored before compression (JSON
text, which never begins with zstd's magic number) are read as they are.
"""

from __future__ import annotations

import threading
from importlib import resources

import zstandard
from eventsourcing.persistence import Compressor

# The dictionary new events are compressed with.
CURRENT_DICTIONARY = 1
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LEVEL = 3


class UnknownDictionaryError(ValueError):
    """A stored state compressed with a dictionary this version does not ship."""


def shipped_dictionaries() -> dict[int, zstandard.ZstdCompressionDict]:
    """Every dictionary in the package, by its id."""
    found = {}
    for entry in resources.files("domain").joinpath("dictionaries").iterdir():
        if entry.name.endswith(".zdict"):
            dictionary = zstandard.ZstdCompressionDict(entry.read_bytes())
            found[dictionary.dict_id()] = dictionary
    return found


class EventCompressor(Compressor):
    """zstd with the shipped dictionaries; one (de)compressor per thread, as zstd requires."""

    def __init__(self) -> None:
        self._dictionaries = shipped_dictionaries()
        self._local = threading.local()

    def _compressor(self) -> zstandard.ZstdCompressor:
        compressor: zstandard.ZstdCompressor | None = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(
                level=LEVEL,
                dict_data=self._dictionaries[CURRENT_DICTIONARY],
                write_checksum=False,
                write_content_size=True,
                write_dict_id=True,
            )
            self._local.compressor = compressor
        return compressor

    def _decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        cache: dict[int, zstandard.ZstdDecompressor] | None = getattr(
            self._local, "decompressors", None
        )
        if cache is None:
            cache = self._local.decompressors = {}
        decompressor = cache.get(dict_id)
        if decompressor is None:
            dictionary = self._dictionaries.get(dict_id)
            if dictionary is None and dict_id != 0:
                msg = (
                    f"a stored state was compressed with dictionary {dict_id}, which this "
                    f"version does not have (it has {sorted(self._dictionaries)}): upgrade"
                )
                raise UnknownDictionaryError(msg)
            decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
            cache[dict_id] = decompressor
        return decompressor

    def compress(self, data: bytes) -> bytes:
        return self._compressor().compress(data)

    def decompress(self, data: bytes) -> bytes:
        if not data.startswith(ZSTD_MAGIC):
            return data  # stored before compression: JSON text as it was
        dict_id = zstandard.get_frame_parameters(data).dict_id
        return self._decompressor(dict_id).decompress(data)
