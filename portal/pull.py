"""What a pull fetches from a portal, in which order, and how it fills a snapshot folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from portal import BIZPROC_PROVIDERS
from portal.client import BATCH_LIMIT, PAGE_SIZE, PortalClient, PortalError
from portal.snapshot import FORMAT, parse_time
from portal.targets import as_int, has_stages, records, targets_of, type_name
from portal.writer import Request, SnapshotFolder

LIST_TYPES = ("bitrix_processes", "lists")  # Feed processes, then the lists

TEMPLATE_FIELDS = [
    "ID", "MODULE_ID", "ENTITY", "DOCUMENT_TYPE", "AUTO_EXECUTE", "NAME", "DESCRIPTION",
    "TEMPLATE", "PARAMETERS", "VARIABLES", "CONSTANTS", "MODIFIED", "IS_MODIFIED", "USER_ID",
    "SYSTEM_CODE",
]  # fmt: skip
INSTANCE_FIELDS = [
    "ID", "MODIFIED", "OWNED_UNTIL", "MODULE_ID", "ENTITY", "DOCUMENT_ID", "STARTED",
    "STARTED_BY", "TEMPLATE_ID",
]  # fmt: skip
TASK_FIELDS = [
    "ID", "WORKFLOW_ID", "DOCUMENT_NAME", "DESCRIPTION", "NAME", "MODIFIED", "WORKFLOW_STARTED",
    "WORKFLOW_STARTED_BY", "OVERDUE_DATE", "WORKFLOW_TEMPLATE_ID", "WORKFLOW_TEMPLATE_NAME",
    "WORKFLOW_STATE", "STATUS", "USER_ID", "USER_STATUS", "MODULE_ID", "ENTITY", "DOCUMENT_ID",
    "ACTIVITY", "ACTIVITY_NAME", "DOCUMENT_URL", "PARAMETERS",
]  # fmt: skip


@dataclass
class Pull:
    """One pull of one portal into one snapshot folder; running it again resumes it."""

    client: PortalClient
    snapshot: SnapshotFolder
    since: datetime | None = None
    types: tuple[int, ...] | None = None
    batch_size: int = BATCH_LIMIT
    warn: Callable[[str], None] = lambda _: None
    fetched: list[tuple[Request, int]] = field(default_factory=list)
    rows: int = 0
    # The portal's own clock: the latest `time.date_finish` it answered with. Retention windows
    # (a task listed a day after its workflow ended, an instance still running) are the portal's.
    portal_clock: datetime | None = None

    async def run(self) -> dict[str, Any]:
        templates = [
            row
            for page in await self.fetch(
                "bizproc.workflow.template.list", {"select": TEMPLATE_FIELDS}
            )
            for row in records(page)
            if isinstance(row, Mapping)
        ]
        targets = targets_of(templates)
        await self.fetch(
            "bizproc.workflow.instances", {"select": INSTANCE_FIELDS, "order": {"STARTED": "ASC"}}
        )
        await self.fetch(
            "bizproc.task.list",
            {"select": TASK_FIELDS, "order": {"ID": "ASC"}, **self._filter(">=MODIFIED")},
        )
        crm_types = self._crm_types(targets.crm)
        await self._crm(crm_types)
        await self._lists(targets.iblocks)
        for storage in sorted(targets.storages):
            await self._folder("disk.storage.getchildren", storage)
        return self._manifest(crm_types)

    async def _crm(self, crm_types: list[int]) -> None:
        for number in crm_types:
            await self.fetch(
                "crm.item.list",
                {
                    "entityTypeId": number,
                    "select": ["*"],
                    "order": {"id": "ASC"},
                    **self._filter(">=updatedTime"),
                },
                key=str(number),
            )
        for number in filter(has_stages, crm_types):
            await self.fetch(
                "crm.stagehistory.list",
                {"entityTypeId": number, "order": {"ID": "ASC"}, **self._filter(">=CREATED_TIME")},
                key=str(number),
            )
        if crm_types:
            for provider in BIZPROC_PROVIDERS:
                since = self._filter(">=CREATED").get("filter", {})
                await self.fetch(
                    "crm.activity.list",
                    {
                        "filter": {"PROVIDER_ID": provider, **since},
                        "select": ["*"],
                        "order": {"ID": "ASC"},
                    },
                    key=provider,
                )

    async def _lists(self, iblocks: frozenset[int]) -> None:
        if not iblocks:
            return
        kinds: dict[int, str] = {}
        for kind in LIST_TYPES:
            for page in await self.fetch("lists.get", {"IBLOCK_TYPE_ID": kind}, key=kind):
                for row in records(page):
                    number = as_int(row.get("ID")) if isinstance(row, Mapping) else None
                    if number is not None:
                        kinds.setdefault(number, kind)
        for iblock in sorted(iblocks):
            if iblock not in kinds:
                self.warn(
                    f"list iblock_{iblock} has templates but is neither a Feed process nor a "
                    "list (a group's list?): its elements are not pulled"
                )
                continue
            since = {"FILTER": {">=DATE_CREATE": self.since.isoformat()}} if self.since else {}
            await self.fetch(
                "lists.element.get",
                {
                    "IBLOCK_TYPE_ID": kinds[iblock],
                    "IBLOCK_ID": iblock,
                    "ELEMENT_ORDER": {"ID": "asc"},
                    **since,
                },
                key=str(iblock),
            )

    async def _folder(self, method: str, folder: int) -> None:
        for page in await self.fetch(method, {"id": folder}, key=str(folder)):
            for row in records(page):
                if not isinstance(row, Mapping):
                    continue
                number, kind = as_int(row.get("ID")), str(row.get("TYPE", "")).lower()
                if number is None:
                    continue
                if kind == "folder":
                    await self._folder("disk.folder.getchildren", number)
                elif kind == "file":
                    await self.fetch("disk.file.getVersions", {"id": number}, key=str(number))

    def _crm_types(self, with_templates: frozenset[int]) -> list[int]:
        if self.types is None:
            return sorted(with_templates)
        for number in self.types:
            if number not in with_templates:
                self.warn(f"no template starts on {type_name(number)}: its items are not pulled")
        return [number for number in self.types if number in with_templates]

    def _filter(self, key: str) -> dict[str, Any]:
        return {"filter": {key: self.since.isoformat()}} if self.since else {}

    async def fetch(
        self, method: str, params: dict[str, Any], key: str | None = None
    ) -> list[dict[str, Any]]:
        """Every page of one request, the stored ones read back and the missing ones fetched."""
        request = Request(method, params, f"pages/{method}{'.' + key if key else ''}.jsonl")
        pages = self.snapshot.stored_pages(request)
        while not pages or "next" in pages[-1]:
            for page in await self._next_pages(request, pages):
                self.snapshot.append(request, page)
                pages.append(page)
                if "next" not in page:
                    break
        self.fetched.append((request, len(pages)))
        self.rows += sum(len(records(page)) for page in pages)
        for page in pages:
            self._tick(page)
        return pages

    def _tick(self, page: Mapping[str, Any]) -> None:
        timing = page.get("time")
        at = parse_time(timing.get("date_finish")) if isinstance(timing, Mapping) else None
        if at is not None and (self.portal_clock is None or at > self.portal_clock):
            self.portal_clock = at

    async def _next_pages(
        self, request: Request, pages: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if not pages:
            return [await self.client.page(request.method, {**request.params, "start": 0})]
        last = pages[-1]
        start, total = as_int(last.get("next")), as_int(last.get("total"))
        before = as_int(pages[-2].get("next")) if len(pages) > 1 else 0
        if start is None or before is None or start <= before:
            raise PortalError(
                f"the portal {self.client.webhook.host} answered {request.method} with a page "
                f"whose next ({last.get('next')!r}) is not a later page's offset"
            )
        starts = list(range(start, total or 0, PAGE_SIZE))[: self.batch_size]
        if len(starts) > 1:
            return await self.client.pages(request.method, request.params, starts)
        return [await self.client.page(request.method, {**request.params, "start": start})]

    def _manifest(self, crm_types: list[int]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "portal": self.client.webhook.host,
            "pulled_at": (self.portal_clock or datetime.now(UTC))
            .astimezone(UTC)
            .isoformat(timespec="seconds"),
            "clock": "portal" if self.portal_clock else "local",
            "since": self.since.isoformat() if self.since else None,
            "types": [type_name(number) for number in crm_types],
            "client": {"name": "fast-bitrix24", "version": _version("fast-bitrix24")},
            "autostart": _version("autostart-audit"),
            "requests": [request.entry(pages) for request, pages in _unique(self.fetched)],
        }


def _unique(fetched: list[tuple[Request, int]]) -> Iterator[tuple[Request, int]]:
    seen: set[str] = set()
    for request, pages in fetched:
        if request.file not in seen:
            seen.add(request.file)
            yield request, pages


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:  # pragma: no cover: the project is always installed
        return "unknown"
