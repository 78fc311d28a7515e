"""`autostart serve`: the web view on a store, on 127.0.0.1 unless access is guarded."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

from simulations.cli.common import (
    EXIT_OK,
    UsageError,
    add_store_option,
    require_extra,
    say,
    store_address,
)
from web.access import Access

TOKEN_ENV = "AUTOSTART_WEB_TOKEN"
PASSWORD_ENV = "AUTOSTART_WEB_PASSWORD"
DEFAULT_LISTEN = "127.0.0.1:8000"


def listen_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret_file(option: str, path: str) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise UsageError(f"{option} {path}: cannot read it ({reason})") from None
    if not secret:
        raise UsageError(f"{option} {path}: the file is empty")
    return secret


def access(args: argparse.Namespace) -> Access:
    """The token and the basic-auth password come from files or the environment, never argv."""
    if args.token_file:
        token: str | None = _secret_file("--token-file", args.token_file)
    else:
        token = os.environ.get(TOKEN_ENV, "").strip() or None
    password = None
    if args.user:
        if args.password_file:
            password = _secret_file("--password-file", args.password_file)
        else:
            password = os.environ.get(PASSWORD_ENV, "").strip() or None
        if password is None:
            raise UsageError(f"--user {args.user}: expected --password-file F or ${PASSWORD_ENV}")
    return Access(token=token, user=args.user, password=password)


def _serve(args: argparse.Namespace) -> int:
    require_extra("web", "aiohttp", "jinja2")
    from aiohttp import web  # noqa: PLC0415 - only the server needs it

    from web.app import web_app  # noqa: PLC0415 - Jinja2 and aiohttp load only to serve

    host, port = listen_address(args.listen)
    guarded = access(args)
    if guarded.open and not is_loopback(host):
        raise UsageError(
            f"--listen {host}:{port}: another interface than 127.0.0.1 needs a token "
            f"(--token-file or ${TOKEN_ENV}) or a user (--user with --password-file or "
            f"${PASSWORD_ENV})"
        )
    store = store_address(args, must_exist=True)
    app = web_app(store, guarded)
    say(f"serving {store.describe()} on http://{host}:{port}/ (read-only; Ctrl-C stops)")
    sys.stderr.flush()
    try:
        web.run_app(app, host=host, port=port, access_log=None, print=None)
    except OSError as error:
        raise UsageError(
            f"--listen {host}:{port}: cannot listen there ({error.strerror})"
        ) from None
    return EXIT_OK


def register(commands: Any) -> None:
    text = "serve the web view: the store's decisions, explanations and verdicts in a browser"
    parser = commands.add_parser("serve", help=text, description=text[0].upper() + text[1:] + ".")
    add_store_option(parser)
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to serve on (default {DEFAULT_LISTEN}; another interface needs a token "
        "or a user)",
    )
    parser.add_argument(
        "--token-file",
        metavar="F",
        help=f"file holding a token readers give as 'Authorization: Bearer' (else ${TOKEN_ENV})",
    )
    parser.add_argument("--user", help="a user name for basic auth")
    parser.add_argument(
        "--password-file",
        metavar="F",
        help=f"file holding the basic-auth password of --user (else ${PASSWORD_ENV})",
    )
    parser.set_defaults(run=_serve)
