"""`autostart collect ...`: run the collector, and read what it recorded."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.stores import StoreAddress, StoreAddressError, parse_store
from portal.cli import bindings
from portal.cli.pull import WEBHOOK_VARIABLE
from portal.collector.logs import FORMATS, collector_logger, log
from portal.collector.payload import DEFAULT_MAX_BODY_BYTES
from portal.collector.store import (
    LOST_AFTER_S,
    CollectorApplication,
    NoCollectedEventsError,
    StoreWriter,
    open_collected,
)
from simulations.cli.common import EXIT_OK, UsageError, parse_time, require_extra

if TYPE_CHECKING:
    from portal.collector.metrics import Metrics
    from portal.collector.service import Poller
    from portal.webhook import Webhook

DEFAULT_DELAYS_S = (2.0, 30.0)

TOKEN_ENV = "AUTOSTART_APP_TOKEN"
# A PostgreSQL store's address holds its password: from the environment it stays out of `ps`.
STORE_ENV = "AUTOSTART_STORE"
STORE_HELP = (
    "PATH.db or sqlite:///PATH, or postgresql://USER:PASSWORD@HOST:PORT/DB "
    "(default $AUTOSTART_STORE)"
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "collect",
        help="receive a live portal's event webhooks and record each one (a long-running service)",
        description="Receive a live portal's outbound event webhooks on POST /bitrix/events and "
        "record each accepted delivery before answering 200; GET /health and GET /metrics. "
        "With a command, read or manage what the collector recorded.",
    )
    parser.add_argument("--listen", metavar="HOST:PORT", help="address to serve on")
    parser.add_argument("--store", help=STORE_HELP)
    parser.add_argument(
        "--app-token-file",
        metavar="F",
        help=f"file holding the portal's application token (else ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--webhook",
        metavar="URL",
        help="the portal's inbound webhook https://HOST/rest/USER/TOKEN/ for the evidence polls "
        f"(default ${WEBHOOK_VARIABLE}, which keeps the token out of the process list); "
        "without one the collector records deliveries only",
    )
    parser.add_argument(
        "--poll-delays",
        default=",".join(f"{d:g}" for d in DEFAULT_DELAYS_S),
        metavar="SECONDS,...",
        help="poll a changed document's running workflows this long after the change "
        "(default 2,30)",
    )
    parser.add_argument(
        "--poll-rate",
        type=float,
        default=2.0,
        metavar="PER_S",
        help="REST requests a second, each polling up to 50 documents (default 2)",
    )
    parser.add_argument(
        "--poll-max-lag",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="a poll this late is recorded as skipped instead of made (default 60)",
    )
    parser.add_argument("--log-format", choices=FORMATS, default="text", help="default text")
    parser.add_argument(
        "--log-deliveries",
        action="store_true",
        help="a log line per accepted or repeated delivery (else a line of counts a minute)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"larger deliveries are refused with 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.set_defaults(run=_serve)
    group = parser.add_subparsers(dest="collect_command", metavar="COLLECT_COMMAND")
    events = group.add_parser(
        "events",
        help="print the recorded deliveries as JSON Lines",
        description="Print the collector's recorded deliveries as JSON Lines, in the order "
        "received: event and ts as the portal sent them, the document, the received time and "
        "the observations of its evidence polls.",
    )
    # SUPPRESS: `collect --store S events` and `collect events --store S` both work.
    events.add_argument("--store", default=argparse.SUPPRESS, help=STORE_HELP)
    events.add_argument(
        "--since", metavar="T", help="only deliveries received at or after T (ISO-8601 time)"
    )
    events.add_argument(
        "--lost-after",
        type=float,
        default=LOST_AFTER_S,
        metavar="SECONDS",
        help="a poll its collector was to make and that is not on record this long past its "
        "due time and --poll-max-lag is reported as skipped, reason lost (its collector "
        f"stopped before making it: killed, or its machine went down); younger, as pending "
        f"(default {LOST_AFTER_S:g})",
    )
    events.set_defaults(run=_events)
    bindings.register(group)


def _store(args: argparse.Namespace) -> StoreAddress:
    address = args.store or os.environ.get(STORE_ENV, "")
    if not address:
        raise UsageError(f"--store or ${STORE_ENV} is required ({STORE_HELP})")
    try:
        store = parse_store(address)
    except StoreAddressError as error:
        raise UsageError(f"--store: {error}") from None
    if store.kind == "memory":
        raise UsageError(
            "--store memory: would lose every acknowledged delivery when the collector stops; "
            f"expected {STORE_HELP}"
        )
    return store


def _open(store: StoreAddress) -> CollectorApplication:
    try:
        return CollectorApplication(store)
    except Exception as error:  # any failure to open is reported in one line
        raise UsageError(opening_failed(store, error)) from None


def opening_failed(store: StoreAddress, error: Exception) -> str:
    """Why a store did not open, in one line, without its password."""
    message = str(error).replace(store.env.get("POSTGRES_PASSWORD", "\0"), "***")
    return f"cannot open {store.describe()}: {message}"


def _token(args: argparse.Namespace) -> bytes:
    if args.app_token_file:
        path = Path(args.app_token_file)
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise UsageError(f"--app-token-file {path}: cannot read it ({reason})") from None
        if not token:
            raise UsageError(f"--app-token-file {path}: the file is empty")
        return token.encode()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(
            f"expected --app-token-file F or ${TOKEN_ENV}: the application token that the "
            "portal sends as auth[application_token]"
        )
    return token.encode()


def _listen(text: str | None) -> tuple[str, int]:
    host, _, port = (text or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _serve(args: argparse.Namespace) -> int:
    require_extra("portal", "aiohttp", "fast_bitrix24")
    # aiohttp loads only here: every other command would pay to import it.
    from aiohttp import web  # noqa: PLC0415

    from portal.collector.service import Settings, collector_app  # noqa: PLC0415

    host, port = _listen(args.listen)
    store = _store(args)
    token = _token(args)
    if args.max_body_bytes < 1024:
        raise UsageError(f"--max-body-bytes {args.max_body_bytes}: expected at least 1024")
    delays = _delays(args.poll_delays)
    if args.poll_rate <= 0 or args.poll_max_lag <= 0:
        raise UsageError("--poll-rate and --poll-max-lag must be above 0")
    text = args.webhook or os.environ.get(WEBHOOK_VARIABLE, "")
    webhook = bindings.webhook(text) if text else None
    # The port first: a taken one is refused before the store is opened (or made).
    sock = _bind(host, port)
    try:
        app = _open(store)
    except BaseException:
        sock.close()
        raise
    logger = collector_logger(args.log_format)
    polls = None
    if webhook is not None:
        polls = _poller(webhook, delays, args.poll_rate, args.poll_max_lag, logger)
    settings = Settings(
        token,
        args.max_body_bytes,
        args.log_deliveries,
        polls_due=delays if webhook is not None else (),
        poll_max_lag_s=args.poll_max_lag,
    )
    service = collector_app(app, settings, logger, polls)
    log(
        logger,
        logging.INFO,
        "listening",
        address=f"{host}:{port}",
        store=store.describe(),
        polls=f"{webhook.host} after {args.poll_delays} s" if webhook else "off",
    )
    web.run_app(
        service,
        sock=sock,
        access_log=None,
        print=None,
        shutdown_timeout=10.0,
        handle_signals=True,
    )
    return EXIT_OK


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise UsageError(f"--listen {host}:{port}: no such address ({error.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as error:
        sock.close()
        raise UsageError(
            f"--listen {host}:{port}: cannot listen there ({error.strerror})"
        ) from None
    sock.setblocking(False)
    return sock


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        delays = ()
    if not delays or any(d < 0 for d in delays) or list(delays) != sorted(delays):
        raise UsageError(
            f"--poll-delays {text!r}: expected increasing seconds separated by commas, e.g. 2,30"
        )
    return delays


def _poller(
    webhook: Webhook,
    delays: tuple[float, ...],
    rate: float,
    max_lag: float,
    logger: logging.Logger,
) -> Callable[[StoreWriter, Metrics], Poller]:
    from portal.client import PortalClient  # noqa: PLC0415 - only a polling collector needs it
    from portal.collector.polls import EvidencePoller  # noqa: PLC0415

    def make(writer: StoreWriter, metrics: Metrics) -> Poller:
        client = PortalClient(webhook, requests_per_second=rate)
        return EvidencePoller(
            client,
            writer,
            metrics,
            logger,
            delays_s=delays,
            max_lag_s=max_lag,
            portal_name=webhook.host,
        )

    return make


def _events(args: argparse.Namespace) -> int:
    store = _store(args)
    since = parse_time(args.since, "--since") if args.since else None
    if args.lost_after < 0:
        raise UsageError(f"--lost-after {args.lost_after:g}: expected seconds, 0 or more")
    try:
        app = open_collected(store)
    except NoCollectedEventsError as error:
        raise UsageError(f"--store {error}") from None
    except Exception as error:  # any failure to open is reported in one line
        raise UsageError(opening_failed(store, error)) from None
    out = sys.stdout
    try:
        for record in app.deliveries(since, lost_after_s=args.lost_after):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        app.close()
    out.flush()
    return EXIT_OK
