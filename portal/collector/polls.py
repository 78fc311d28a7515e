"""Evidence polls: a document's running workflows, asked for a few seconds after each change.

Each accepted change is polled after each of the delays (2 s, then 30 s by default). Polls wait
in one queue by due time, so every document gets its turn in order; a poll request asks for up
to 50 documents in one `batch`, and the client keeps the portal's request rate (2 a second). When
the portal cannot keep up, a poll more than `max_lag_s` late is recorded as skipped rather than
made, and so is every poll still queued when the service stops: the receiver never waits.
At its start the poller also records the portal's template list once: the configuration an audit
of the collected events rests on when no snapshot is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from portal.client import PortalError, php_query
from portal.collector.deliveries import CollectedDelivery
from portal.collector.logs import log
from portal.collector.metrics import Metrics
from portal.collector.store import StoreWriter
from portal.collector.templates import TemplateList
from portal.pull import TEMPLATE_FIELDS

DEFAULT_DELAYS_S = (2.0, 30.0)
BATCH_SIZE = 50
MAX_PENDING = 20_000
INSTANCE_FIELDS = ("ID", "TEMPLATE_ID", "STARTED", "STARTED_BY")


class Portal(Protocol):
    """What the polls need of the REST client: one method's answer, already redacted."""

    async def page(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]: ...


def document_id(document: str) -> str:
    """Bitrix's DOCUMENT_ID of a CRM document: `crm.deal:101` -> `DEAL_101`."""
    document_type, _, item = document.partition(":")
    entity = document_type.removeprefix("crm.").upper()
    return f"{entity}_{item}"


@dataclass(order=True)
class _Due:
    at: float
    order: int
    poll: int = field(compare=False)
    delay_s: float = field(compare=False)
    delivery: CollectedDelivery = field(compare=False)


class EvidencePoller:
    """Polls `bizproc.workflow.instances` after each change and records what it saw."""

    def __init__(
        self,
        portal: Portal,
        writer: StoreWriter,
        metrics: Metrics,
        logger: logging.Logger,
        *,
        delays_s: tuple[float, ...] = DEFAULT_DELAYS_S,
        max_lag_s: float = 60.0,
        max_pending: int = MAX_PENDING,
        portal_name: str = "",
    ) -> None:
        self.portal = portal
        self.writer = writer
        self.metrics = metrics
        self.logger = logger
        self.delays_s = delays_s
        self.max_lag_s = max_lag_s
        self.max_pending = max_pending
        self._due: list[_Due] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._saving: set[asyncio.Task[None]] = set()
        self._asking: list[_Due] = []
        self._stack = contextlib.AsyncExitStack()
        self._listing: asyncio.Task[None] | None = None
        self.portal_name = portal_name

    def schedule(self, delivery: CollectedDelivery) -> None:
        """Queues the delivery's polls; never waits. A delete leaves nothing to look at."""
        if delivery.change == "delete":
            return
        now = time.monotonic()
        for poll, delay_s in enumerate(self.delays_s, 1):
            if len(self._due) >= self.max_pending:
                self._skip_now(delivery, poll, delay_s, "queue_full")
                continue
            heapq.heappush(
                self._due, _Due(now + delay_s, next(self._order), poll, delay_s, delivery)
            )
        self._wake.set()

    async def start(self) -> None:
        if isinstance(self.portal, contextlib.AbstractAsyncContextManager):
            await self._stack.enter_async_context(self.portal)
        self._task = asyncio.create_task(self._run())
        self._listing = asyncio.create_task(self._list_templates())

    async def _list_templates(self) -> None:
        """Records the portal's template list once, at the start: the configuration an audit
        of the collected events alone rests on. A failure is logged; the polls go on."""
        rows: list[dict[str, Any]] = []
        try:
            start: int | None = 0
            while start is not None:
                body = await self.portal.page(
                    "bizproc.workflow.template.list", {"select": TEMPLATE_FIELDS, "start": start}
                )
                found = body.get("result")
                if not isinstance(found, list):
                    raise ValueError("the template list's answer has no result list")
                rows.extend(row for row in found if isinstance(row, dict))
                following = body.get("next")
                start = int(following) if following not in (None, "") else None
        except (PortalError, ValueError) as error:
            log(self.logger, logging.WARNING, "template list failed", error=str(error))
            return
        await self.writer.save(TemplateList.listed(self.portal_name, rows, datetime.now(UTC)))
        log(self.logger, logging.INFO, "template list recorded", templates=len(rows))

    async def close(self) -> None:
        """Stops polling; every poll still queued is recorded as skipped."""
        if self._listing is not None and not self._listing.done():
            self._listing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listing
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # A poll stopped while its request was out is recorded as skipped too.
        left = self._asking + [heapq.heappop(self._due) for _ in range(len(self._due))]
        self._asking = []
        await self._record_skipped(left, "shutdown")
        if self._saving:
            await asyncio.gather(*self._saving)
        await self._stack.aclose()

    async def _run(self) -> None:
        while True:
            if not self._due:
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._due[0].at - time.monotonic()
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                continue
            now = time.monotonic()
            late: list[_Due] = []
            batch: list[_Due] = []
            while self._due and self._due[0].at <= now and len(batch) < BATCH_SIZE:
                due = heapq.heappop(self._due)
                (late if now - due.at > self.max_lag_s else batch).append(due)
            await self._record_skipped(late, "budget")
            if batch:
                await self._poll(batch)

    async def _poll(self, batch: list[_Due]) -> None:
        documents = sorted({due.delivery.document for due in batch})
        commands = {f"d{n}": document for n, document in enumerate(documents)}
        cmd = {
            name: "bizproc.workflow.instances?"
            + php_query(
                {
                    "select": ["ID", "DOCUMENT_ID", "TEMPLATE_ID", "STARTED", "STARTED_BY"],
                    "filter": {"MODULE_ID": "crm", "DOCUMENT_ID": document_id(document)},
                }
            )
            for name, document in commands.items()
        }
        self._asking = batch
        try:
            body = await self.portal.page("batch", {"halt": 0, "cmd": cmd})
            results = _results(body)
        except (PortalError, ValueError) as error:
            self._asking = []
            log(self.logger, logging.WARNING, "poll failed", polls=len(batch), error=str(error))
            await self._record_skipped(batch, "portal_error")
            return
        seen = {document: results.get(name, []) for name, document in commands.items()}
        at = datetime.now(UTC)
        for due in batch:
            instances = [
                {key: str(row.get(key, "")) for key in INSTANCE_FIELDS}
                for row in seen[due.delivery.document]
                if isinstance(row, Mapping)
            ]
            due.delivery.observe(due.poll, due.delay_s, instances, at)
        self._asking = []
        await self._save(batch)
        self.metrics.polls_done += len(batch)

    async def _record_skipped(self, polls: list[_Due], reason: str) -> None:
        if not polls:
            return
        at = datetime.now(UTC)
        for due in polls:
            due.delivery.skip_poll(due.poll, due.delay_s, reason, at)
        await self._save(polls)
        self.metrics.polls_skipped[reason] += len(polls)

    def _skip_now(
        self, delivery: CollectedDelivery, poll: int, delay_s: float, reason: str
    ) -> None:
        delivery.skip_poll(poll, delay_s, reason, datetime.now(UTC))
        self.metrics.polls_skipped[reason] += 1
        task = asyncio.get_running_loop().create_task(self.writer.save(delivery))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def _save(self, polls: list[_Due]) -> None:
        unique = {id(due.delivery): due.delivery for due in polls}
        await self.writer.save(*unique.values())


def _results(body: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Each command's rows from a batch answer; an empty map comes as `[]`."""
    inner = body.get("result")
    if not isinstance(inner, Mapping):
        raise ValueError("the batch answer has no result object")
    found = inner.get("result")
    if isinstance(found, list):
        found = dict(enumerate(found)) if found else {}
    if not isinstance(found, Mapping):
        raise ValueError("the batch answer's result is not a map")
    return {str(k): v if isinstance(v, list) else [] for k, v in found.items()}
