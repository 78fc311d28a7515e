"""The lists' filters from a query string, checked by the exports' own code (the same errors)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from datetime import datetime

from projections.queries import Filters
from simulations.cli.common import UsageError
from simulations.cli.common import parse_time as parse_option_time
from simulations.cli.export import checked_filters

FILTER_KEYS = (
    "element",
    "document_type",
    "template",
    "channel",
    "outcome",
    "reason",
    "since",
    "until",
)


class BadFilterError(ValueError):
    """A filter value the store can never hold: named with the values it takes."""


def parse_time(text: str, name: str) -> datetime:
    try:
        return parse_option_time(text, name)
    except UsageError as error:
        raise BadFilterError(str(error)) from None


def parse_filters(query: Mapping[str, str]) -> Filters:
    """Empty values mean no filter, as an empty form field does."""
    given = {key: query[key].strip() for key in FILTER_KEYS if query.get(key, "").strip()}
    template = given.get("template")
    if template is not None and not template.isdigit():
        raise BadFilterError(f"--template {template!r}: expected a template id (an integer)")
    args = argparse.Namespace(
        **{key: given.get(key) for key in FILTER_KEYS},
    )
    args.template = None if template is None else int(template)
    try:
        return checked_filters(args, "decisions")
    except UsageError as error:
        raise BadFilterError(str(error)) from None


def as_of(filters: Filters, at: datetime | None) -> Filters:
    """The filters narrowed to what had happened by `at` (the page's ?at=)."""
    if at is None or (filters.until is not None and filters.until <= at):
        return filters
    return dataclasses.replace(filters, until=at)
