"""Taking back a refused replay's events: the one thing the event library offers no way to do.

A replay is all or nothing (a bad line, a crash or a kill leaves the store as it was), but an
event store only appends. Every private name of the library this project still uses is here:
the in-memory recorder's list and index (`_stored_events`, `_stored_events_index`,
`_database_lock`), and the SQL recorders' table (`events_table_name`, `datastore`) cut back by a
`DELETE`. A new version of the library must pass `tests/test_killed_replay.py` and the refused
replays' tests before its pin is widened.
"""

from __future__ import annotations

from typing import Any


def take_back(recorder: object, kind: str, position: int) -> None:
    """Removes every event recorded after notification `position` (kind: the store's kind)."""
    library: Any = recorder
    if kind == "memory":
        # The in-memory recorder keeps a list (notification id n at n - 1) and an index of it
        # by stream and version.
        with library._database_lock:
            for stored in library._stored_events[position:]:
                del library._stored_events_index[str(stored.originator_id)][
                    stored.originator_version
                ]
            del library._stored_events[position:]
        return
    table = library.events_table_name
    with library.datastore.transaction(commit=True) as cursor:
        if kind == "sqlite":
            cursor.execute(f"DELETE FROM {table} WHERE rowid > ?", (position,))
        else:
            schema = library.datastore.schema
            cursor.execute(
                f'DELETE FROM "{schema}"."{table}" WHERE notification_id > %s', (position,)
            )
