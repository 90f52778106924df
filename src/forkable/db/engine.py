"""Engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

# How long a SQLite writer waits for the lock before giving up, in milliseconds.
_SQLITE_BUSY_TIMEOUT_MS = 30_000


def _configure_sqlite(engine: Engine) -> None:
    """WAL, full fsync, foreign keys, and explicit BEGIN so writers can take the lock early."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below own transaction start (pysqlite's own is lazy).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
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

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
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
        with self._writer_turn, sessions() as session, session.begin():
            if not durable and not self.is_sqlite:
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            yield session

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def listen(self, name: str, listener: Callable[..., Any]) -> None:
        """Register a SQLAlchemy session event (``after_commit`` ...) on this database's sessions."""
        for factory in (self._read_sessions, self._write_sessions):
            if not event.contains(factory, name, listener):
                event.listen(factory, name, listener)

    def dispose(self) -> None:
        self.engine.dispose()
