"""The REST adapter's small parts: webhooks, redaction, batch queries, error bodies, page files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_portal import php_params
from hypothesis import given
from hypothesis import strategies as st

from portal.client import error_of, php_query, scope_of
from portal.snapshot import Request, Snapshot
from portal.targets import Targets, parse_types, targets_of
from portal.webhook import Webhook, WebhookError

TOKEN = "4x9sEcReT0k3n"
WEBHOOK = Webhook.parse(f"https://example.bitrix24.com/rest/7/{TOKEN}/")


def test_a_webhook_keeps_its_scheme_and_shows_only_its_host() -> None:
    local = Webhook.parse(f"http://127.0.0.1:8080/rest/1/{TOKEN}")

    assert local.url == f"http://127.0.0.1:8080/rest/1/{TOKEN}/"
    assert local.host == "127.0.0.1:8080"
    assert TOKEN not in repr(local)
    assert TOKEN not in str(local)


@pytest.mark.parametrize(
    "url",
    [
        f"https://example.bitrix24.com/rest/{TOKEN}/",
        f"https://example.bitrix24.com/rest/1/{TOKEN}/crm.deal.list",
        f"https://example.bitrix24.com/rest/1/{TOKEN}/?auth={TOKEN}",
        f"ftp://example.bitrix24.com/rest/1/{TOKEN}/",
        f"example.bitrix24.com/rest/1/{TOKEN}/",
    ],
)
def test_a_wrong_webhook_is_refused_without_showing_its_token(url: str) -> None:
    with pytest.raises(WebhookError) as refused:
        Webhook.parse(url)

    assert TOKEN not in str(refused.value)


def test_redaction_hides_the_token_and_auth_parameters_and_keeps_every_other_value() -> None:
    body = {
        "result": [
            {
                "ID": "7201",
                "SIZE": 21796,
                "RATIO": 0.5,
                "DELETED": None,
                "ACTIVE": True,
                "DOWNLOAD_URL": f"https://example.bitrix24.com/rest/7/{TOKEN}/download/?token=disk",
                "DETAIL_URL": "https://example.bitrix24.com/rest/download.json?auth=90499369&token=x",
                TOKEN: "a key",
            }
        ],
        "total": 2,
    }

    redacted = WEBHOOK.redact_body(body)

    assert redacted == {
        "result": [
            {
                "ID": "7201",
                "SIZE": 21796,
                "RATIO": 0.5,
                "DELETED": None,
                "ACTIVE": True,
                "DOWNLOAD_URL": "https://example.bitrix24.com/rest/7/***/download/?token=disk",
                "DETAIL_URL": "https://example.bitrix24.com/rest/download.json?auth=***&token=x",
                "***": "a key",
            }
        ],
        "total": 2,
    }
    assert TOKEN not in json.dumps(redacted)


keys = st.text(alphabet="abcXYZ_>=<!%@0123456789", min_size=1, max_size=8).filter(
    lambda key: not key.isdigit()
)
leaves = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=10)
params = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(keys, inner, min_size=1, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(keys, params, min_size=1, max_size=4))
def test_a_batch_command_carries_any_parameters_as_php_reads_them(
    sent: dict[str, Any],
) -> None:
    assert php_params(php_query(sent)) == sent


def test_batch_queries_keep_filter_operators_in_keys() -> None:
    query = php_query({"entityTypeId": 2, "filter": {">=updatedTime": "2026-03-01T00:00:00+03:00"}})

    assert php_params(query) == {
        "entityTypeId": "2",
        "filter": {">=updatedTime": "2026-03-01T00:00:00+03:00"},
    }


V3_DENIED = "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "ACCESS_DENIED", "error_description": "Denied"}, ("ACCESS_DENIED", "Denied")),
        ({"error": "", "error_description": "Must be array."}, ("", "Must be array.")),
        ({"error": 0, "error_description": "Not supported"}, ("0", "Not supported")),
        ({"error": "100", "error_description": "No value"}, ("100", "No value")),
        ({"error": {"code": V3_DENIED, "message": "no"}}, (V3_DENIED, "no")),
        ({"result": [], "total": 0}, None),
    ],
)
def test_error_codes_are_read_whatever_their_type(
    body: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    assert error_of(body) == expected


def test_a_method_needs_the_scope_its_name_begins_with() -> None:
    assert [scope_of(m) for m in ("bizproc.task.list", "disk.file.getVersions", "lists.get")] == [
        "bizproc",
        "disk",
        "lists",
    ]


def test_templates_name_their_documents_in_every_documented_shape() -> None:
    templates: list[dict[str, Any]] = [
        {"MODULE_ID": "crm", "DOCUMENT_TYPE": ["crm", "CCrmDocumentDeal", "DEAL"]},
        {"MODULE_ID": "crm", "DOCUMENT_TYPE": "LEAD"},
        {"DOCUMENT_TYPE": [None, None, "SMART_INVOICE"]},
        {"MODULE_ID": "crm", "DOCUMENT_TYPE": ["crm", "Dynamic", "DYNAMIC_147"]},
        {"MODULE_ID": "lists", "DOCUMENT_TYPE": ["lists", "BizprocDocument", "iblock_47"]},
        {"DOCUMENT_TYPE": [None, None, "STORAGE_1357"]},
        {"MODULE_ID": "tasks", "DOCUMENT_TYPE": ["tasks", "Task", "TASK"]},
        {"DOCUMENT_TYPE": 5},
    ]

    assert targets_of(templates) == Targets(
        crm=frozenset({2, 1, 31, 147}), iblocks=frozenset({47}), storages=frozenset({1357})
    )


def test_types_are_named_as_the_crm_names_them() -> None:
    assert parse_types("deal, lead,DYNAMIC_147,smart_invoice,deal") == (2, 1, 147, 31)
    with pytest.raises(ValueError, match="unknown CRM type 'dynamic_x'"):
        parse_types("deal,dynamic_x")


def test_a_torn_last_page_is_cut_off_and_fetched_again(tmp_path: Path) -> None:
    snapshot = Snapshot(tmp_path / "snapshot")
    snapshot.begin({"portal": "example.bitrix24.com"})
    request = Request("crm.item.list", {"entityTypeId": 2}, "pages/crm.item.list.2.jsonl")
    snapshot.append(request, {"result": {"items": [{"id": 1}]}, "next": 50, "total": 51})
    path = tmp_path / "snapshot" / request.file
    whole = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"result": {"items": [{"id": 51}')

    pages = snapshot.stored_pages(request)

    assert pages == [{"result": {"items": [{"id": 1}]}, "next": 50, "total": 51}]
    assert path.read_bytes() == whole
