"""The collector's store: deliveries saved in batches by one thread, each once across processes.

The events go to their own table (`collector_events`), so a collector may share a SQLite file or
a PostgreSQL database with an audit store. Several collectors may share one store: a delivery's
id is its idempotency key, and the store's unique (id, version) constraint refuses the second
copy whichever process saves it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, OperationalError, ProgrammingError
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from eventsourcing.utils import Environment

from domain.stores import StoreAddress, store_environment
from portal.collector.deliveries import CollectedDelivery, observation
from portal.collector.payload import Delivery

TABLE = "collector_events"
MAX_BATCH = 500
PAGE_SIZE = 1000
PENDING = 10_000
# Past its due time and allowed lag, a poll not on record after this long was never made: more
# than a poll request's time-out with its retries.
LOST_AFTER_S = 600.0


class CollectorSQLiteRecorder(SQLiteApplicationRecorder):
    """The SQLite recorder, on the collector's own table."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = TABLE) -> None:
        super().__init__(datastore, events_table_name)


class CollectorApplication(Application[UUID]):
    """The store of collected deliveries and their polls."""

    name = "collector"

    def __init__(self, store: StoreAddress, *, create_table: bool = True) -> None:
        env = {k: v for k, v in store.env.items() if k != "IS_SNAPSHOTTING_ENABLED"}
        if not create_table:
            env["CREATE_TABLE"] = "false"
        if store.kind == "sqlite":
            # The library names PostgreSQL tables after the application, SQLite ones not.
            env["APPLICATION_RECORDER_TOPIC"] = f"{__name__}:CollectorSQLiteRecorder"
        super().__init__(env)

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # The store's address beats the shell's COLLECTOR_*, SQLITE_*, POSTGRES_* variables.
        return store_environment(name, type(self).env, env)

    def record(
        self,
        deliveries: list[tuple[Delivery, datetime]],
        polls_due: tuple[float, ...] = (),
        poll_max_lag_s: float = 0.0,
    ) -> list[CollectedDelivery | None]:
        """Saves new deliveries in one transaction; None for each one already in the store.

        A repeated delivery makes the batch's transaction fail whole: the batch is then saved
        one delivery at a time, so only the repeats are left out.
        """
        seen: set[UUID] = set()
        fresh: list[int] = []
        for index, (delivery, _) in enumerate(deliveries):
            if delivery.key not in seen:
                seen.add(delivery.key)
                fresh.append(index)
        results: list[CollectedDelivery | None] = [None] * len(deliveries)
        due = (polls_due, poll_max_lag_s)
        aggregates = [CollectedDelivery.receive(*deliveries[i], *due) for i in fresh]
        try:
            self.save(*aggregates)
        except IntegrityError:
            # The failed save took the aggregates' pending events: make each one again.
            for index in fresh:
                aggregate = CollectedDelivery.receive(*deliveries[index], *due)
                try:
                    self.save(aggregate)
                except IntegrityError:
                    continue
                results[index] = aggregate
            return results
        for index, aggregate in zip(fresh, aggregates, strict=True):
            results[index] = aggregate
        return results

    def deliveries(
        self,
        since: datetime | None = None,
        *,
        lost_after_s: float = LOST_AFTER_S,
        now: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every delivery in the order received, with its polls' observations.

        Polls land in the log up to a minute or so after their delivery, so the latest
        deliveries wait for them in memory; past PENDING deliveries the oldest is completed from
        its own stream and printed, and the log's later events for it are passed over. A poll
        its collector was to make and that is not on record is `lost` once it is `lost_after_s`
        past its due time and allowed lag (its collector stopped before making it: killed, or
        its machine went down), and `pending` before that.
        """
        now = now or datetime.now(UTC)
        pending: OrderedDict[UUID, tuple[dict[str, Any], int]] = OrderedDict()

        def finished(record: dict[str, Any]) -> dict[str, Any]:
            return _with_missing_polls(record, now, lost_after_s)

        for event in self.collected_events():
            key = event.originator_id
            if isinstance(event, CollectedDelivery.Received):
                if since is None or event.timestamp >= since:
                    pending[key] = (_record(event), event.originator_version)
            elif key in pending:
                record, _ = pending[key]
                record["observations"].append(observation(event))
                pending[key] = (record, event.originator_version)
            while len(pending) > PENDING:
                yield finished(self._completed(*pending.popitem(last=False)))
        for record, _ in pending.values():
            yield finished(record)

    def collected_events(self) -> Iterator[Any]:
        """Every event of the collector's table, in the order recorded."""
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=PAGE_SIZE)
            if not page:
                return
            for notification in page:
                yield self.mapper.to_domain_event(notification)
            start = page[-1].id + 1

    def _completed(self, key: UUID, seen: tuple[dict[str, Any], int]) -> dict[str, Any]:
        record, version = seen
        for event in self.events.get(key, gt=version):
            record["observations"].append(observation(event))
        return record


def open_collected(store: StoreAddress) -> CollectorApplication:
    """The collector's events of `store`, only to read: raises NoCollectedEventsError, creating
    nothing, when the store holds no collector's table."""
    if store.path is not None and not store.path.is_file():
        raise NoCollectedEventsError(f"{store.describe()}: no store there")
    app = CollectorApplication(store, create_table=False)
    try:
        app.recorder.select_notifications(start=1, limit=1)
    except (OperationalError, ProgrammingError) as error:
        app.close()
        # SQLite says "no such table", PostgreSQL 'relation "..." does not exist'.
        if "no such table" not in str(error) and "does not exist" not in str(error):
            raise
        raise NoCollectedEventsError(
            f"{store.describe()} holds no collected events (no {TABLE} table): give the store "
            "a collector recorded into"
        ) from None
    return app


class NoCollectedEventsError(Exception):
    """A store to read collected events from that holds none."""


def _with_missing_polls(
    record: dict[str, Any], now: datetime, lost_after_s: float
) -> dict[str, Any]:
    received, due, lag = record.pop("_due")
    made = {o["poll"] for o in record["observations"]}
    for poll, delay_s in enumerate(due, 1):
        if poll in made:
            continue
        deadline = received.timestamp() + delay_s + lag + lost_after_s
        state = {"skipped": "lost"} if now.timestamp() > deadline else {"pending": True}
        record["observations"].append({"poll": poll, "delay_s": delay_s, "at": None, **state})
    record["observations"].sort(key=lambda o: o["poll"])
    return record


def _record(event: CollectedDelivery.Received) -> dict[str, Any]:
    due = getattr(event, "polls_due", [])
    lag = getattr(event, "poll_max_lag_s", 0.0)
    return {
        "event": event.event,
        "ts": event.ts,
        "document": event.document,
        "change": event.change,
        "received": event.timestamp.isoformat(),
        "user": event.user,
        "user_token": event.user_token,
        "handler": event.handler,
        "domain": event.domain,
        "fields": event.fields,
        "observations": [],
        "_due": (event.timestamp, due, lag),
    }


@dataclass(slots=True)
class _Job:
    """Deliveries to record, a future each; or deliveries' later events to save, one future."""

    loop: asyncio.AbstractEventLoop
    deliveries: list[tuple[Delivery, datetime]] = field(default_factory=list)
    futures: list[asyncio.Future[Any]] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)


# One answer to hand back: the future, its result, or the error it raises.
_Settlement = tuple[asyncio.Future[Any], Any, BaseException | None]


class StoreWriter:
    """One thread that saves what the event loop hands it, many deliveries per transaction.

    The deliveries that arrive in one turn of the event loop go over as one job, and while one
    batch commits the next one gathers: under load a commit carries dozens of deliveries, so
    the store's per-transaction cost and the threads' hand-overs are shared among them.
    """

    def __init__(
        self,
        app: CollectorApplication,
        on_commit: Callable[[float, int], None] = lambda *_: None,
        polls_due: tuple[float, ...] = (),
        poll_max_lag_s: float = 0.0,
    ) -> None:
        self.app = app
        self.polls_due = polls_due
        self.poll_max_lag_s = poll_max_lag_s
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._gathering: _Job | None = None
        self._thread = threading.Thread(target=self._run, name="collector-store", daemon=True)
        self._thread.start()

    async def record(self, delivery: Delivery) -> CollectedDelivery | None:
        """Saves one delivery; returns its aggregate, or None when the store already has it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        job = self._gathering
        if job is None:
            job = self._gathering = _Job(loop)
            loop.call_soon(self._hand_over)
        job.deliveries.append((delivery, datetime.now(UTC)))
        job.futures.append(future)
        result: CollectedDelivery | None = await future
        return result

    async def save(self, *aggregates: Aggregate) -> None:
        """Saves deliveries' later events (their polls), together; or the template list."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Job(loop, futures=[future], aggregates=list(aggregates)))
        await future

    def close(self) -> None:
        """Saves what was handed over so far, then stops the thread."""
        self._queue.put(None)
        self._thread.join()

    def _hand_over(self) -> None:
        job, self._gathering = self._gathering, None
        if job is not None:
            self._queue.put(job)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            stop = False
            while sum(len(j.deliveries) for j in jobs) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        receipts = [job for job in jobs if not job.aggregates]
        updates = [job for job in jobs if job.aggregates]
        futures = [future for job in receipts for future in job.futures]
        answers: list[_Settlement] = []
        try:
            results = self.app.record(
                [d for job in receipts for d in job.deliveries],
                self.polls_due,
                self.poll_max_lag_s,
            )
        except Exception as error:  # each waiting request answers for itself
            answers += [(future, None, error) for future in futures]
        else:
            answers += [(f, r, None) for f, r in zip(futures, results, strict=True)]
        if updates:
            futures = [future for job in updates for future in job.futures]
            try:
                self.app.save(*(a for job in updates for a in job.aggregates))
            except Exception as error:
                answers += [(future, None, error) for future in futures]
            else:
                answers += [(future, None, None) for future in futures]
        self.on_commit(time.perf_counter() - started, len(answers))
        # A closed loop raises RuntimeError: nobody waits for the answers any more.
        with suppress(RuntimeError):
            jobs[0].loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[_Settlement]) -> None:
    for future, result, error in answers:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
