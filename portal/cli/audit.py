"""`autostart portal audit` and `autostart portal example`."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.stores import StoreAddressError, parse_store
from simulations.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    UsageError,
    add_store_option,
    say,
    store_address,
)
from simulations.replay import open_store
from simulations.traffic import BadLineError

if TYPE_CHECKING:
    from portal.collected import Collected

EXAMPLE = ("examples", "snapshot")
# The file a collected template list's errors name (portal.collected.TEMPLATES_FILE).
TEMPLATES_FILE = "collector: bizproc.workflow.template.list"


def cmd_audit(args: argparse.Namespace) -> int:
    # The audit's modules load only when it runs: every other command starts without them.
    from portal.audit import (  # noqa: PLC0415
        NoConfigurationError,
        StoreNotEmptyError,
        prepare,
        run,
    )
    from portal.report import markdown  # noqa: PLC0415
    from portal.snapshot import SnapshotError  # noqa: PLC0415

    store = store_address(args)
    if args.snapshot is None and args.collected is None:
        raise UsageError("give a snapshot DIR, --collected STORE, or both")
    folder = Path(args.snapshot) if args.snapshot is not None else None
    collected = _collected(args.collected) if args.collected is not None else None
    try:
        prepared = prepare(folder, args.set, collected)
    except SnapshotError as error:
        where = folder if error.file != TEMPLATES_FILE else args.collected
        say(f"autostart portal audit: {where}: {error}; nothing was recorded")
        return EXIT_BAD_INPUT
    except NoConfigurationError as error:
        say(f"autostart portal audit: {error}; nothing was recorded")
        return EXIT_BAD_INPUT
    created = store.path is not None and not store.path.exists()
    new_folders = [] if store.path is None else _missing_folders(store.path)
    app = open_store(store)
    try:
        result = run(prepared, app)
    except (StoreNotEmptyError, BadLineError) as error:
        app.close()
        _remove(store.path if created else None, new_folders)
        what = "the traffic derived from the snapshot: " if isinstance(error, BadLineError) else ""
        say(f"autostart portal audit: {what}{error}; nothing was recorded")
        return EXIT_BAD_INPUT
    except BaseException:
        app.close()
        _remove(store.path if created else None, new_folders)
        raise
    app.close()
    summary = result.summary()
    if args.json:
        # Compact: the indenting encoder is pure Python, ten times slower on a large portal.
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(markdown(summary))
    counts = ", ".join(f"{n} {verdict}" for verdict, n in summary["counts"].items())
    collected_count = len(collected.changes) if collected is not None else 0
    if args.quiet:
        return EXIT_OK
    say(
        f"audited {summary['portal']}: {summary['records']} records"
        + (f" and {collected_count} collected deliveries" if collected is not None else "")
        + f" observed into {store.describe()}; {counts}"
    )
    return EXIT_OK


def _collected(address: str) -> Collected:
    """What a collector recorded into `address`, read only; UsageError when it holds none."""
    from portal.cli.collect import opening_failed  # noqa: PLC0415
    from portal.collected import read_collected  # noqa: PLC0415
    from portal.collector.store import NoCollectedEventsError  # noqa: PLC0415

    try:
        store = parse_store(address)
    except StoreAddressError as error:
        raise UsageError(f"--collected: {error}") from None
    try:
        return read_collected(store)
    except NoCollectedEventsError as error:
        raise UsageError(f"--collected {error}") from None
    except Exception as error:  # any failure to open is reported in one line
        raise UsageError(f"--collected: {opening_failed(store, error)}") from None


def _missing_folders(path: Path) -> list[Path]:
    return [folder for folder in path.absolute().parents if not folder.exists()]


def _remove(path: Path | None, folders: list[Path]) -> None:
    if path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    for folder in folders:
        folder.rmdir()


def cmd_example(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target}: exists and is not an empty folder; give a new one")
    source = resources.files("portal").joinpath(*EXAMPLE)
    written = _copy(source, target)
    if not args.quiet:
        say(f"wrote the example snapshot to {target} ({written} files)")
    return EXIT_OK


def _copy(source: Traversable, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            count += _copy(entry, target / entry.name)
        elif not entry.name.startswith(("_", ".")):
            (target / entry.name).write_bytes(entry.read_bytes())
            count += 1
    return count


def register(commands: Any) -> None:
    """Adds the `audit` commands to `autostart portal`."""
    audit = commands.add_parser(
        "audit",
        help="audit a snapshot: each template's verdict beside the portal's evidence",
        description=(
            "Read a snapshot folder (from `portal pull` or `portal example`) whole, record "
            "every fetched record as an event, derive the portal's configuration and traffic "
            "(every inferred channel labelled with its signal and confidence), replay it, and "
            "give each (element, template, trigger) one verdict: started, expected "
            "unverifiable, excluded, or anomaly. What REST cannot show comes from --set or "
            "a portal.toml beside the snapshot; every assumption is listed. A Markdown "
            "summary on stdout (--json for one JSON document). A malformed snapshot, or a "
            "record without a field the audit cannot do without (its id, what ties it to a "
            "template or an element, the time of an add or a change), is refused naming the "
            "file, page and field, exit 2, and nothing is recorded; any other field may be "
            "absent, null or empty: it is unknown, and the inferences that needed it say so."
        ),
    )
    audit.add_argument(
        "snapshot", metavar="DIR", nargs="?", help="the snapshot folder (optional with --collected)"
    )
    audit.add_argument(
        "--collected",
        metavar="STORE",
        help="a collector's store (PATH.db, sqlite:///PATH or postgresql://...): its changes "
        "with their real order and times, its polls as evidence; alone, the template list the "
        "collector recorded at its start is the configuration; with DIR, the snapshot gives the "
        "configuration and the earlier history",
    )
    add_store_option(audit)
    audit.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="what REST cannot show, e.g. portal.plan=basic, template.11.active=false, "
        "container.feed.iblock_22.bizproc_enabled=false, audit.timezone=+03:00 (repeatable; "
        "over portal.toml)",
    )
    audit.add_argument("--json", action="store_true", help="one JSON document instead of text")
    audit.set_defaults(run=cmd_audit)

    example = commands.add_parser(
        "example",
        help="write the example snapshot shipped with the package to DIR",
        description=(
            "Write a small example snapshot (a deal, lead, Feed list and Drive portal, with "
            "every verdict present) to DIR, a new or empty folder."
        ),
    )
    example.add_argument("dir", metavar="DIR", help="a new or empty folder")
    example.set_defaults(run=cmd_example)
