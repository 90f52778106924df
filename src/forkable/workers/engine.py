"""The queue engine: a Procrastinate app on the same PostgreSQL as everything else.

The queue carries one kind of message, "work on generation X" (`GENERATION_TASK`); the row
stays the truth. Maintenance runs as Procrastinate periodic tasks on a queue of its own, so a
sweep never waits behind a long line of generations.
"""

from __future__ import annotations

import procrastinate

from forkable.db import Database

GENERATION_TASK = "forkable.run_generation"
GENERATIONS_QUEUE = "generations"
MAINTENANCE_QUEUE = "maintenance"


class QueueNeedsPostgres(Exception):
    """The shared queue lives in PostgreSQL; the embedded SQLite runs jobs in process."""

    def __init__(self) -> None:
        super().__init__(
            "the shared job queue needs PostgreSQL: set FORKABLE_DATABASE_URL to a postgresql:// "
            "URL (SQLite runs jobs in the serving process: plain `forkable serve`)"
        )


def connection_string(database: Database) -> str:
    """The libpq connection string of ``database`` (its SQLAlchemy URL without the driver)."""
    if database.is_sqlite:
        raise QueueNeedsPostgres()
    url = database.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def queue_app(database: Database, *, pool_size: int = 4) -> procrastinate.App:
    """A Procrastinate app on ``database``'s PostgreSQL; opened by the worker, never by the web
    (which defers on its own transaction's connection)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=connection_string(database), min_size=1, max_size=pool_size
    )
    return procrastinate.App(connector=connector)
