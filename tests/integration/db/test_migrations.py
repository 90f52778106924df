"""Migrations apply from empty on SQLite and PostgreSQL, and again without effect."""

from __future__ import annotations

from sqlalchemy import inspect, text

from forkable.db import Database
from forkable.db.migrate import current_revision, head_revision, is_up_to_date, upgrade
from forkable.schema import Base


def test_upgrade_from_empty_matches_the_models(database_url: str) -> None:
    database = Database(database_url)
    try:
        assert current_revision(database) is None
        upgrade(database)
        assert current_revision(database) == head_revision(database)
        assert is_up_to_date(database)
        tables = set(inspect(database.engine).get_table_names()) - {"alembic_version"}
        queue_tables = {name for name in tables if name.startswith("procrastinate_")}
        # The job queue's own tables come with PostgreSQL only (the embedded SQLite needs none).
        assert bool(queue_tables) == (not database.is_sqlite)
        assert tables - queue_tables == set(Base.metadata.tables)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in inspect(database.engine).get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name
        upgrade(database)  # a second run is a no-op
        assert is_up_to_date(database)
    finally:
        database.dispose()


def test_every_site_owned_table_has_site_id() -> None:
    for table in Base.metadata.sorted_tables:
        if table.name == "sites":
            continue
        assert "site_id" in table.columns, f"{table.name} has no site_id"


def test_sqlite_runs_in_wal_with_full_sync(tmp_path: str) -> None:
    database = Database(f"sqlite:///{tmp_path}/x.sqlite3")
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        database.dispose()
