"""Real argon2 hashers (cheap parameters) that count what our password code asks of them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher

GENEROUS = 10.0  # seconds: only a broken implementation waits this long


class CountingHasher(PasswordHasher):
    """Counts hashes and verifications, and the most that ever ran at once.

    With ``gated``, each verification waits until the test opens ``gate``, so a test can hold
    hashing slots taken while it looks at what the other requests do. ``memory_cost`` (KiB) and
    ``time_cost`` make each hash take as long as a race needs to show (8 MiB, 2 passes: ~20 ms).
    """

    def __init__(self, *, gated: bool = False, memory_cost: int = 1024, time_cost: int = 1) -> None:
        super().__init__(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        self.gated = gated
        self.gate = threading.Event()
        self.changed = threading.Condition()
        self.running = 0
        self.peak = 0
        self.hashed = 0
        self.verified = 0

    @contextmanager
    def _running(self, kind: str) -> Iterator[None]:
        with self.changed:
            setattr(self, kind, getattr(self, kind) + 1)
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.changed.notify_all()
        try:
            yield
        finally:
            with self.changed:
                self.running -= 1
                self.changed.notify_all()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self._running("hashed"):
            return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._running("verified"):
            if self.gated:
                self.gate.wait(GENEROUS)
            return super().verify(hash, password)

    def wait_running(self, count: int) -> None:
        """Return once ``count`` hashes are running at the same time."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.running >= count, GENEROUS):
                raise TimeoutError(f"{count} hashes never ran at once (peak {self.peak})")
