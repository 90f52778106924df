"""SQLite's page cache per connection: small and bounded, whatever the database's size."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from forkable.db import Database
from forkable.db.engine import SQLITE_CACHE_KB
from forkable.observability.process_stats import sqlite_memory_bytes


def test_each_connection_caches_at_most_the_set_size(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/x.sqlite3")
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KB
            connection.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)"))
            connection.execute(
                text(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i < 20000) INSERT INTO filler (body) SELECT printf('%.200c', 'x') "
                    "FROM n"
                )
            )
            connection.commit()
        assert (tmp_path / "x.sqlite3").stat().st_size + (
            tmp_path / "x.sqlite3-wal"
        ).stat().st_size > 4 * 1024 * 1024
        with database.engine.connect() as connection:
            before = sqlite_memory_bytes()
            assert before is not None
            # A scan of the whole table (about 4 MB) reads every page through the cache.
            total = connection.execute(text("SELECT sum(length(body)) FROM filler")).scalar()
            assert total == 20000 * 200
            grown = (sqlite_memory_bytes() or 0) - before
        # The set size and a little of SQLite's own; its default (2,000 KB) kept about 2 MB.
        assert grown < (SQLITE_CACHE_KB + 256) * 1024 < 1024 * 1024
    finally:
        database.dispose()
