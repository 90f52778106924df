"""How many password hashes may run at once, and how long a request may wait for one.

An argon2id hash with the default parameters takes 64 MiB for its whole run. Nothing else
bounds how many run at once, so a burst of logins would cost memory without limit (30 at once
took a server from 140 MB to 1.7 GB). A few slots bound that memory; a request that gets no
slot within a few seconds is refused (the web layer answers 503 with Retry-After) instead of
queueing, and only a few requests may wait at all: each waiting one holds a thread that other
requests need.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Enough for bursts of real people logging in at once; beyond it, memory (64 MiB each), not
# CPU, is what more slots would buy.
MAX_SLOTS = 8
# A hash takes about 0.1 s on an idle core and 0.5-1 s on a busy 2-core host (measured by
# benchmarks/soak.py, where a one-second wait refused 10 of 36 sign-ups arriving together).
# At most WAITING_PER_SLOT requests wait per slot, so the last one's turn comes within about
# four hashes: five seconds covers a busy small host. The bounded queue, not this wait, is
# what stops a flood.
WAIT_SECONDS = 5.0
# Requests that may wait for a slot, per slot.
WAITING_PER_SLOT = 4


class PasswordsBusy(Exception):
    """Every hashing slot stayed taken for the whole wait: try again shortly."""


def default_slots() -> int:
    """One slot per CPU this process may run on (at least 2, at most MAX_SLOTS)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(2, min(MAX_SLOTS, cpus))


class HashSlots:
    """A bounded number of concurrent hashes, a short wait for one, and a bounded queue."""

    def __init__(
        self,
        slots: int | None = None,
        *,
        wait_seconds: float = WAIT_SECONDS,
        max_waiting: int | None = None,
    ) -> None:
        self.slots = slots if slots is not None else default_slots()
        if self.slots < 1:
            raise ValueError("at least one hashing slot is needed")
        self._free = threading.BoundedSemaphore(self.slots)
        self._wait_seconds = wait_seconds
        self._max_waiting = WAITING_PER_SLOT * self.slots if max_waiting is None else max_waiting
        self._waiting = 0
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot right now."""
        with self._lock:
            return self._waiting

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the body; PasswordsBusy when none came free in time."""
        if not self._free.acquire(blocking=False):
            self._wait_for_slot()
        try:
            yield
        finally:
            self._free.release()

    def _wait_for_slot(self) -> None:
        with self._lock:
            if self._waiting >= self._max_waiting:
                raise PasswordsBusy
            self._waiting += 1
        try:
            acquired = self._free.acquire(timeout=self._wait_seconds)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise PasswordsBusy
