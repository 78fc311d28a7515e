"""The tests' throwaway PostgreSQL server: the package's own, which `autostart bench` uses too."""

from simulations.postgres_server import (
    PostgresServer,
    PostgresServerError,
    eventsourcing_env,
    free_port,
    newest_bin_dir,
)

__all__ = [
    "PostgresServer",
    "PostgresServerError",
    "eventsourcing_env",
    "free_port",
    "newest_bin_dir",
]
