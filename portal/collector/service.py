"""The collector's HTTP service: `POST /bitrix/events`, `GET /health`, `GET /metrics`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from portal.collector.deliveries import CollectedDelivery
from portal.collector.logs import log
from portal.collector.metrics import Metrics
from portal.collector.payload import DEFAULT_MAX_BODY_BYTES, DeliveryError, parse_delivery
from portal.collector.store import CollectorApplication, StoreWriter

EVENTS_PATH = "/bitrix/events"
REASONS = ("too_large", "not_form", "malformed", "token", "unknown_event", "no_id", "bad_ts")


class Poller(Protocol):
    """What looks at a document's running workflows after a change (the evidence polls)."""

    def schedule(self, delivery: CollectedDelivery) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Settings:
    app_token: bytes
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_deliveries: bool = False
    summary_every_s: float = 60.0
    # The polls each change will get (their delays; none without polling), recorded with it.
    polls_due: tuple[float, ...] = ()
    poll_max_lag_s: float = 0.0


STORE = web.AppKey("store", CollectorApplication)
WRITER = web.AppKey("writer", StoreWriter)
METRICS = web.AppKey("metrics", Metrics)


def collector_app(
    store: CollectorApplication,
    settings: Settings,
    logger: logging.Logger,
    poller_factory: Callable[[StoreWriter, Metrics], Poller] | None = None,
) -> web.Application:
    """The service; its store writer starts with the application and stops after the requests.

    On shutdown the server first stops listening and lets the requests in flight finish (each
    is saved before it is answered); then the polls still due are recorded as skipped, and the
    writer commits what it holds.
    """
    metrics = Metrics(rejected=Counter(dict.fromkeys(REASONS, 0)))
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[STORE] = store
    app[METRICS] = metrics
    state: dict[str, Any] = {}

    async def start(app: web.Application) -> None:
        writer = StoreWriter(store, metrics.commit, settings.polls_due, settings.poll_max_lag_s)
        app[WRITER] = writer
        state["poller"] = None
        state["summary"] = asyncio.create_task(_summaries(settings, metrics, logger))
        if poller_factory is not None:
            poller = poller_factory(writer, metrics)
            await poller.start()
            state["poller"] = poller

    async def stop(app: web.Application) -> None:
        state["summary"].cancel()
        poller: Poller | None = state.get("poller")
        if poller is not None:
            await poller.close()
        await asyncio.to_thread(app[WRITER].close)
        log(logger, logging.INFO, "stopped", **metrics.summary())

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    receive = _receiver(settings, metrics, logger, state)
    app.router.add_post(EVENTS_PATH, receive)
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    return app


def _receiver(
    settings: Settings, metrics: Metrics, logger: logging.Logger, state: dict[str, Any]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def receive(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            body = await request.read()
            delivery = parse_delivery(body, request.content_type, settings.app_token)
        except web.HTTPRequestEntityTooLarge:
            return _refused(
                DeliveryError(
                    413, "too_large", f"the body is over {settings.max_body_bytes} bytes"
                ),
                request,
                metrics,
                logger,
            )
        except DeliveryError as error:
            return _refused(error, request, metrics, logger)
        try:
            aggregate = await request.app[WRITER].record(delivery)
        except Exception as error:  # the store's failure is the answer
            metrics.store_errors += 1
            log(
                logger,
                logging.ERROR,
                "store refused a delivery",
                error=type(error).__name__,
                event=delivery.event,
                document=delivery.document,
            )
            return web.json_response({"error": "the store is unavailable"}, status=503)
        duplicate = aggregate is None
        if duplicate:
            metrics.duplicates += 1
        else:
            metrics.accepted += 1
            poller: Poller | None = state.get("poller")
            if poller is not None and aggregate is not None:
                poller.schedule(aggregate)
        result = "duplicate" if duplicate else "accepted"
        # A line per delivery costs a third of a delivery's time: only with --log-deliveries.
        if settings.log_deliveries:
            log(
                logger,
                logging.INFO,
                result,
                event=delivery.event,
                document=delivery.document,
                ts=delivery.ts,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
        return web.json_response({"result": result, "document": delivery.document})

    return receive


async def _summaries(settings: Settings, metrics: Metrics, logger: logging.Logger) -> None:
    """A line of counts every `summary_every_s` seconds in which anything arrived."""
    last: dict[str, int] = {}
    while True:
        await asyncio.sleep(settings.summary_every_s)
        now = metrics.summary()
        if now != last:
            log(logger, logging.INFO, "since start", **now)
            last = now


def _refused(
    error: DeliveryError, request: web.Request, metrics: Metrics, logger: logging.Logger
) -> web.Response:
    metrics.rejected[error.reason] += 1
    log(
        logger,
        logging.WARNING,
        "refused",
        status=error.status,
        reason=error.reason,
        peer=request.remote,
        detail=error.message,
    )
    return web.json_response({"error": error.message}, status=error.status)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render().encode(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )
