"""Keeping the leases of the jobs a process is working on, and noticing expired ones.

A lease says "this process is on it until ...". While a job runs, a keeper thread renews the
leases of every job in progress a few times per lease period; if the process dies the renewals
stop, the leases expire, and a sweep (`jobs.reap`, in any process) puts those jobs back in the
queue or fails them with their tokens returned after the last attempt.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from forkable.db import Database
from forkable.generations import jobs

logger = logging.getLogger(__name__)


def new_owner() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    """Renews the leases of the jobs in progress under ``owner``; runs ``also`` each tick."""

    def __init__(
        self,
        database: Database,
        *,
        owner: str,
        lease_seconds: float,
        also: Callable[[], object] | None = None,
    ) -> None:
        self.database = database
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._also = also
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, generation_id: str) -> Iterator[None]:
        """Keep the job's lease renewed for the duration of the block."""
        with self._lock:
            self._active.add(generation_id)
        try:
            yield
        finally:
            with self._lock:
                self._active.discard(generation_id)

    @property
    def active(self) -> list[str]:
        with self._lock:
            return sorted(self._active)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="forkable-leases", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    def renew(self) -> None:
        jobs.renew_leases(
            self.database, owner=self.owner, ids=self.active, lease_seconds=self.lease_seconds
        )

    def _run(self) -> None:
        # Three renewals per lease period: one late renewal never loses a job.
        interval = max(0.05, self.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                self.renew()
                if self._also is not None:
                    self._also()
            except Exception:  # a database hiccup: the next tick tries again
                logger.exception("lease keeper error")
