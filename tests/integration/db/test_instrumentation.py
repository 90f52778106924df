"""`Database.instrument`: statement times by kind, the pool, and SQLite's write-lock waits,
read back from the app's metrics on both engines."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from tests.support.metrics import exported

from forkable.db import Database
from forkable.db.engine import statement_kind
from forkable.observability.metrics import Metrics


def metric(metrics: Metrics, name: str, **labels: str) -> float:
    return exported(metrics).get((name, tuple(sorted(labels.items()))), 0.0)


def watched(database: Database) -> Metrics:
    metrics = Metrics()
    metrics.watch_database(database)
    return metrics


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SELECT 1", "select"),
        ("  \n insert INTO t VALUES (?)", "insert"),
        ("UPDATE t SET a = 'DELETE'", "update"),
        ("DELETE FROM t", "delete"),
        ("BEGIN IMMEDIATE", "begin"),
        ("COMMIT", "commit"),
        ("ROLLBACK", "rollback"),
        ("PRAGMA foreign_keys=ON", "other"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "other"),
        ("", "other"),
    ],
)
def test_a_statement_kind_is_its_first_keyword(statement: str, kind: str) -> None:
    assert statement_kind(statement) == kind


def test_statements_are_timed_by_kind(database_url: str) -> None:
    database = Database(database_url)
    metrics = watched(database)
    try:
        with database.transaction() as session:
            session.execute(text("CREATE TABLE probe (n INTEGER)"))
        with database.transaction() as session:
            session.execute(text("INSERT INTO probe VALUES (1), (2)"))
            session.execute(text("UPDATE probe SET n = n + 1"))
            session.execute(text("DELETE FROM probe WHERE n = 3"))
        with database.session() as session:
            assert session.execute(text("SELECT count(*) FROM probe")).scalar_one() == 1
        count = "forkable_db_query_duration_seconds_count"
        for kind in ("select", "insert", "update", "delete"):
            assert metric(metrics, count, kind=kind) >= 1, kind
        assert metric(metrics, count, kind="commit") >= 2
        # The read session ends with the pool's rollback of the returned connection.
        assert metric(metrics, count, kind="rollback") >= 1
        if database.is_sqlite:
            assert metric(metrics, count, kind="begin") >= 2  # BEGIN IMMEDIATE, BEGIN
            assert metric(metrics, "forkable_db_sqlite_busy_wait_seconds_count") == 2
        assert metric(metrics, "forkable_db_query_duration_seconds_sum", kind="insert") > 0
        assert metric(metrics, "forkable_db_pool_wait_seconds_count") >= 1
        # Every connection is back in the pool, none in overflow.
        assert metric(metrics, "forkable_db_pool_connections", state="in_use") == 0
        assert metric(metrics, "forkable_db_pool_connections", state="idle") >= 1
        assert metric(metrics, "forkable_db_pool_connections", state="overflow") == 0
        assert metric(metrics, "forkable_db_pool_capacity") == 15  # SQLAlchemy's 5 + 10
        # Labels are kinds, never the statements or their values.
        assert "probe" not in metrics.exposition().decode()
    finally:
        database.dispose()


def test_a_disposed_pool_keeps_its_observer(database_url: str) -> None:
    database = Database(database_url)
    metrics = watched(database)
    try:
        database.ping()
        database.dispose()
        before = metric(metrics, "forkable_db_pool_wait_seconds_count")
        database.ping()
        assert metric(metrics, "forkable_db_pool_wait_seconds_count") == before + 1
    finally:
        database.dispose()


@pytest.mark.postgres
def test_an_exhausted_pool_records_waits_and_timeouts(postgres_url: str) -> None:
    database = Database(postgres_url, pool_size=1, max_overflow=0, pool_timeout=0.3)
    metrics = watched(database)
    held = threading.Event()
    release = threading.Event()

    def hold_the_only_connection() -> None:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert held.wait(10)
        assert metric(metrics, "forkable_db_pool_connections", state="in_use") == 1
        assert metric(metrics, "forkable_db_pool_capacity") == 1
        # Nothing comes back within the pool's timeout: one timeout counted.
        with pytest.raises(sa_exc.TimeoutError):
            database.ping()
        assert metric(metrics, "forkable_db_pool_timeouts_total") == 1
        # Released after 0.15 s: the waiter gets it, and its wait is in the histogram.
        threading.Timer(0.15, release.set).start()
        started = time.perf_counter()
        database.ping()
        waited = time.perf_counter() - started
        assert waited >= 0.1
        found = exported(metrics)
        count = found[("forkable_db_pool_wait_seconds_count", ())]
        assert count >= 2  # the holder's checkout and the waiter's
        assert found[("forkable_db_pool_wait_seconds_sum", ())] >= 0.1
        assert found[("forkable_db_pool_wait_seconds_bucket", (("le", "0.05"),))] < count
    finally:
        release.set()
        holder.join(10)
        database.dispose()


def _hold_write_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    """Another connection (as another process would) holds SQLite's write lock for a while."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()


def test_a_sqlite_writer_waiting_for_the_lock_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    database = Database(f"sqlite:///{path}")
    metrics = watched(database)
    try:
        with database.transaction() as session:
            session.execute(text("CREATE TABLE probe (n INTEGER)"))
        locked = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 0.3, locked))
        holder.start()
        assert locked.wait(5)
        with database.transaction() as session:
            session.execute(text("INSERT INTO probe VALUES (1)"))
        holder.join(5)
        found = exported(metrics)
        assert found[("forkable_db_sqlite_busy_wait_seconds_count", ())] == 2
        assert found[("forkable_db_sqlite_busy_wait_seconds_sum", ())] >= 0.2
        # The wait sits in the BEGIN IMMEDIATE statement, and it was no timeout.
        assert found[("forkable_db_query_duration_seconds_sum", (("kind", "begin"),))] >= 0.2
        assert found[("forkable_db_sqlite_busy_timeouts_total", ())] == 0
    finally:
        database.dispose()


def test_the_in_process_writer_turn_is_recorded(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'turn.sqlite3'}")
    metrics = watched(database)
    inside = threading.Event()

    def slow_writer() -> None:
        with database.transaction():
            inside.set()
            time.sleep(0.3)

    try:
        first = threading.Thread(target=slow_writer)
        first.start()
        assert inside.wait(5)
        with database.transaction():
            pass
        first.join(5)
        assert exported(metrics)[("forkable_db_sqlite_busy_wait_seconds_sum", ())] >= 0.2
    finally:
        database.dispose()


def test_a_sqlite_busy_timeout_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    database = Database(f"sqlite:///{path}", sqlite_busy_timeout_ms=100)
    metrics = watched(database)
    try:
        database.ping()
        locked = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 1.0, locked))
        holder.start()
        assert locked.wait(5)
        with pytest.raises(sa_exc.OperationalError, match="locked"):
            with database.transaction():
                pass
        holder.join(5)
        assert exported(metrics)[("forkable_db_sqlite_busy_timeouts_total", ())] == 1
    finally:
        database.dispose()
