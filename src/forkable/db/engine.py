"""Engines and sessions for SQLite (embedded default) and PostgreSQL.

`Database.instrument(observer)` tells a `DatabaseObserver` (the app's metrics) how long
statements, pool checkouts and SQLite's write lock take; `Database.pool_status()` is read
when metrics are scraped. Nothing is timed until an observer is set.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

# How long a SQLite writer waits for the lock before giving up, in milliseconds.
_SQLITE_BUSY_TIMEOUT_MS = 30_000
# Each connection's page cache, in KB (SQLite's default is 2,000). A request reads a small part
# of the database, and in WAL mode a connection drops its whole cache whenever another one has
# written, so a large cache helps mostly scans (ledger checks, alert rules); with the default
# it filled in steps as the database grew, over hours. This one is full within minutes.
SQLITE_CACHE_KB = 512

# A statement's kind is its first keyword; anything else (PRAGMA, WITH, SAVEPOINT ...) is "other".
QUERY_KINDS = ("select", "insert", "update", "delete", "begin", "commit", "rollback", "other")
_KNOWN_KINDS = frozenset(QUERY_KINDS)
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")


class DatabaseObserver(Protocol):
    """Told what the database did and how long it took (seconds)."""

    def query(self, kind: str, seconds: float) -> None: ...

    def pool_wait(self, seconds: float) -> None: ...

    def pool_timeout(self) -> None: ...

    def busy_wait(self, seconds: float) -> None: ...

    def busy_timeout(self) -> None: ...


@dataclass(frozen=True)
class PoolStatus:
    """The connection pool of this process now; ``capacity`` is pool size + overflow."""

    in_use: int
    idle: int
    overflow: int
    capacity: int


# Statements whose kind an engine remembers (see `_time_statements`).
_KINDS_REMEMBERED = 2048


def statement_kind(statement: str) -> str:
    """``select``, ``insert`` ... from the statement's first keyword; never its values."""
    match = _FIRST_WORD.match(statement)
    if match is None:
        return "other"
    kind = match.group(1).lower()
    return kind if kind in _KNOWN_KINDS else "other"


class _TimedQueuePool(QueuePool):
    """A QueuePool that tells its observer how long each checkout waited, and its timeouts."""

    observer: DatabaseObserver | None = None
    # Log as the QueuePool it is: SQLAlchemy names a pool's logger after its class, and a name
    # under "forkable" would print the pool's INFO lines ("Pool recreating") among ours.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.QueuePool"

    def _do_get(self) -> ConnectionPoolEntry:
        observer = self.observer
        if observer is None:
            return super()._do_get()
        started = time.perf_counter()
        try:
            entry = super()._do_get()
        except sa_exc.TimeoutError:
            observer.pool_timeout()
            raise
        observer.pool_wait(time.perf_counter() - started)
        return entry

    def recreate(self) -> QueuePool:
        # `engine.dispose()` swaps in a fresh pool of the same class: it keeps the observer.
        pool = super().recreate()
        if isinstance(pool, _TimedQueuePool):
            pool.observer = self.observer
        return pool


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, full fsync, foreign keys, and explicit BEGIN so writers can take the lock early."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below own transaction start (pysqlite's own is lazy).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        # A connection remembers its setting: change it only for the transactions that differ.
        synchronous = options.get("sqlite_synchronous", "FULL")
        info = connection.connection.info
        if info.get("synchronous", "FULL") != synchronous:
            connection.exec_driver_sql(f"PRAGMA synchronous={synchronous}")
            info["synchronous"] = synchronous
        # Read-then-write transactions take the write lock up front; otherwise two of them can
        # both read, then one fails to upgrade its lock (SQLITE_BUSY) instead of waiting.
        immediate = options.get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One engine and the two ways to use it: read sessions and write transactions."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: float | None = None,
        sqlite_busy_timeout_ms: int = _SQLITE_BUSY_TIMEOUT_MS,
    ) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._observer: DatabaseObserver | None = None
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        in_memory = False
        if self.is_sqlite:
            database = self.url.database
            in_memory = not database or database == ":memory:"
            if not in_memory:
                Path(str(database)).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {
                "check_same_thread": False,
                "timeout": sqlite_busy_timeout_ms / 1000,
            }
        else:
            kwargs["pool_pre_ping"] = True
        if not in_memory:
            # The pool SQLAlchemy would pick anyway (QueuePool), timing its checkouts.
            kwargs["poolclass"] = _TimedQueuePool
            for name, value in (
                ("pool_size", pool_size),
                ("max_overflow", max_overflow),
                ("pool_timeout", pool_timeout),
            ):
                if value is not None:
                    kwargs[name] = value
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, sqlite_busy_timeout_ms)
        write_engine = self.engine.execution_options(sqlite_immediate=True)
        # SQLite has one writer at a time. Threads of this process wait for their turn here,
        # where the next one is woken the moment the lock is free; left to SQLite's busy
        # handler they would sleep in growing steps (1, 2, 5, 10 ... ms) and leave the lock
        # idle in between. Other processes still wait in the busy handler.
        self._writer_turn: AbstractContextManager[object] = (
            threading.RLock() if self.is_sqlite else nullcontext()
        )
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(write_engine, expire_on_commit=False)
        self._undurable_write_sessions = sessionmaker(
            write_engine.execution_options(sqlite_synchronous="NORMAL"), expire_on_commit=False
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading; roll back whatever it did not commit."""
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on any exception.

        ``durable=False`` commits without waiting for the disk (SQLite `synchronous=NORMAL`,
        PostgreSQL `synchronous_commit=off`): a power cut or an operating-system crash can undo
        the last such commits, a crash of this process cannot, and the database stays
        consistent either way. Only for changes whose loss puts things back as the reaper
        would (a job's lease), never for money.
        """
        sessions = self._write_sessions if durable else self._undurable_write_sessions
        waiting_since = time.perf_counter()
        with self._writer_turn, sessions() as session, session.begin():
            if self.is_sqlite:
                # BEGIN IMMEDIATE now, so the wait for the write lock (this process's turn, then
                # SQLite's busy handler while another process writes) is measured in one piece.
                session.connection()
                observer = self._observer
                if observer is not None:
                    observer.busy_wait(time.perf_counter() - waiting_since)
            elif not durable:
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            yield session

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def listen(self, name: str, listener: Callable[..., Any]) -> None:
        """Register a SQLAlchemy session event (``after_commit`` ...) on this database's sessions."""
        factories = (self._read_sessions, self._write_sessions, self._undurable_write_sessions)
        for factory in factories:
            if not event.contains(factory, name, listener):
                event.listen(factory, name, listener)

    def dispose(self) -> None:
        self.engine.dispose()

    def instrument(self, observer: DatabaseObserver) -> None:
        """Tell ``observer`` about every statement, pool checkout and write-lock wait from now on.

        Once per database: a second call changes the observer, it adds no second listener.
        """
        first = self._observer is None
        self._observer = observer
        pool = self.engine.pool
        if isinstance(pool, _TimedQueuePool):
            pool.observer = observer
        if first:
            _time_statements(self.engine, lambda: self._observer)

    def pool_status(self) -> PoolStatus | None:
        """Connections in use, idle and in overflow now; None for a pool without those counts."""
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return None
        return PoolStatus(
            in_use=pool.checkedout(),
            idle=pool.checkedin(),
            overflow=max(0, pool.overflow()),
            capacity=pool.size() + max(0, pool._max_overflow),
        )


def _time_statements(engine: Engine, observer: Callable[[], DatabaseObserver | None]) -> None:
    """Time every statement, commit and rollback where the engine hands it to the driver: the
    dialect's ``do_execute``, ``do_executemany``, ``do_execute_no_params``, ``do_commit`` and
    ``do_rollback`` (the pool's rollback of a returned connection goes through it too), and
    count SQLite's "database is locked" errors there.

    Not SQLAlchemy's cursor events: an engine with any event listener dispatches every event
    of every connection through joined listener collections, which cost a PostgreSQL read
    about a tenth more CPU; wrapping these five methods of the engine's own dialect object
    costs a statement one call and a clock read.
    """
    dialect = engine.dialect
    # SQLAlchemy hands over the same strings again (its compiled cache): a look-up is cheaper
    # than the regular expression. Bounded all the same.
    kinds: dict[str, str] = {}

    def kind_of(statement: str) -> str:
        kind = kinds.get(statement)
        if kind is None:
            if len(kinds) >= _KINDS_REMEMBERED:
                kinds.clear()
            kind = kinds[statement] = statement_kind(statement)
        return kind

    def timed_statement(call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(cursor: Any, statement: str, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(cursor, statement, *args, **kwargs)
            except sqlite3.OperationalError as error:
                _note_locked(observer(), error)
                raise
            finally:
                watching = observer()
                if watching is not None:
                    watching.query(kind_of(statement), time.perf_counter() - started)

        return timed

    def timed_end(call: Callable[[Any], None], kind: str) -> Callable[[Any], None]:
        def timed(dbapi_connection: Any) -> None:
            started = time.perf_counter()
            try:
                call(dbapi_connection)
            except sqlite3.OperationalError as error:
                _note_locked(observer(), error)
                raise
            finally:
                watching = observer()
                if watching is not None:
                    watching.query(kind, time.perf_counter() - started)

        return timed

    for name in ("do_execute", "do_executemany", "do_execute_no_params"):
        setattr(dialect, name, timed_statement(getattr(dialect, name)))
    for kind, name in (("commit", "do_commit"), ("rollback", "do_rollback")):
        setattr(dialect, name, timed_end(getattr(dialect, name), kind))


def _note_locked(observer: DatabaseObserver | None, error: sqlite3.OperationalError) -> None:
    """SQLite's busy timeout ran out ("database is locked", "database table is locked")."""
    if observer is not None and "locked" in str(error):
        observer.busy_timeout()
