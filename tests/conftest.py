"""Shared fixtures: Hypothesis profiles and a throwaway PostgreSQL server."""

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings
from postgres_server import PostgresServer

# The machine is shared and noisy, so no profile has a deadline.
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database for this test alone."""
    return postgres_server.create_database(f"test_{uuid.uuid4().hex}")
