"""Status changes between processes on PostgreSQL: NOTIFY with the commit, LISTEN in a thread.

A job that a `forkable worker` (or another serving process) ends commits in that process, so
the commit's facts never reach the waits of this one. On PostgreSQL every transaction that
changes a generation's status also sends `pg_notify` on one channel, which the server
delivers when, and only if, the transaction commits; each serving process listens on its own
connection and wakes its waits at once. Notifications sent while a listener reconnects are
lost: the waits' watcher (`forkable.generations.waits`) reads the statuses a few times a
second anyway, so a lost one costs a fraction of a second, never an answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from forkable.db import Database, events
from forkable.db.events import StatusChanged

logger = logging.getLogger(__name__)

CHANNEL = "forkable_generation_status"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def announce_status_changes(database: Database) -> None:
    """On PostgreSQL, send each status change of a transaction with its commit (once per
    database; nothing on SQLite, whose writers are all in one process or reached by the
    watcher)."""
    if database.is_sqlite:
        return

    def before_commit(session: Session) -> None:
        if session.in_nested_transaction():
            return
        changes = {
            (fact.generation_id, fact.status)
            for fact in events.noted(session)
            if isinstance(fact, StatusChanged)
        }
        for generation_id, status in sorted(changes):
            payload = f"{generation_id}:{status}"
            session.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})

    database.listen("before_commit", before_commit)


class StatusListener:
    """A thread that listens on the channel and calls ``on_change(generation_id, status)``."""

    def __init__(
        self,
        database: Database,
        on_change: Callable[[str, str], None],
        *,
        retry_seconds: float = 1.0,
    ) -> None:
        url = database.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._on_change = on_change
        self._retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.listening = threading.Event()  # set while subscribed (tests wait for it)

    def ensure_started(self) -> None:
        """Start listening, unless it already does (any thread; started by the first wait)."""
        with self._lock:
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="forkable-status-listener", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        # Returns after a while without notifications, to see the stop.
                        for notify in connection.notifies(timeout=0.5):
                            generation_id, _, status = notify.payload.partition(":")
                            self._on_change(generation_id, status)
            except psycopg.Error as exc:
                self.listening.clear()
                logger.warning("status listener: %s; listening again shortly", exc)
                self._stop.wait(self._retry_seconds)
        self.listening.clear()
