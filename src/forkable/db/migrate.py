"""Applying and inspecting Alembic migrations, without an alembic.ini."""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from forkable.db.engine import Database

_SCRIPTS = Path(__file__).parent / "migrations"
# An arbitrary constant naming the advisory lock that migrators take on PostgreSQL.
_LOCK_KEY = 0x666F726B


def _config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    # Percent signs in passwords would be read as interpolation by configparser.
    url = database.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision(database: Database) -> str | None:
    return ScriptDirectory.from_config(_config(database)).get_current_head()


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(database: Database) -> bool:
    return current_revision(database) == head_revision(database)


def upgrade(database: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` in one transaction per engine's rules."""
    config = _config(database)
    # Several workers may start at once: serialise them so only one applies each migration.
    engine = database.engine.execution_options(sqlite_immediate=True)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def wait_until_up_to_date(database: Database, *, timeout: float, interval: float = 1.0) -> bool:
    """Wait for someone else's `forkable db upgrade`; True once the schema is current.

    Processes started at the same moment as the migration (compose, Kubernetes) wait for it
    instead of failing; False after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not is_up_to_date(database):
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
