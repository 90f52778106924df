"""The jobs this process has leased, on their way to its workers, and the workers waiting.

A job reaches a worker in one of three ways: the worker claims it from the queue itself; its
submit transaction leased it to an idle worker reserved for it (no claim at all); or the
finisher leased it ahead for the next worker to be free. The last two pass through here.
"""

from __future__ import annotations

import threading
from collections import deque

from forkable.generations.jobs import ClaimedJob


class LocalQueue:
    """Thread-safe: leased jobs in order, idle workers, and reservations of idle workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: deque[ClaimedJob] = deque()
        self._idle = 0  # workers waiting for work
        self._reserved = 0  # idle workers promised to jobs being submitted
        self._wake = threading.Event()

    def reserve(self) -> bool:
        """Promise an idle worker to a job being submitted; False when none is free."""
        with self._lock:
            if self._idle - self._reserved <= 0:
                return False
            self._reserved += 1
            return True

    def unreserve(self) -> None:
        """Give back a promise whose job was not created."""
        with self._lock:
            self._reserved -= 1

    def put(self, job: ClaimedJob, *, reserved: bool = False) -> None:
        """Pass a job this process leased to the next free worker (fulfilling a promise)."""
        with self._lock:
            if reserved:
                self._reserved -= 1
            self._jobs.append(job)
        self._wake.set()

    def take(self) -> ClaimedJob | None:
        with self._lock:
            return self._jobs.popleft() if self._jobs else None

    def wants_one_ahead(self) -> bool:
        """Every worker is busy and no leased job waits for one."""
        with self._lock:
            return not self._idle and not self._jobs

    def drain(self) -> list[ClaimedJob]:
        """The jobs no worker took, removed."""
        with self._lock:
            jobs, self._jobs = list(self._jobs), deque()
            return jobs

    def wait(self, timeout: float) -> None:
        """A worker waits, counted as idle, until woken or ``timeout`` seconds pass."""
        with self._lock:
            self._idle += 1
        self._wake.wait(timeout)
        with self._lock:
            self._idle -= 1
        self._wake.clear()

    def wake(self) -> None:
        """Wake the waiting workers: work is queued, or they should stop."""
        self._wake.set()

    @property
    def idle(self) -> int:
        with self._lock:
            return self._idle

    @property
    def reservations(self) -> int:
        with self._lock:
            return self._reserved
