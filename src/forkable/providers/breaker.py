"""A circuit breaker: after repeated provider failures, stop calling until a probe succeeds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls fail fast until the cool-down ends
    HALF_OPEN = "half_open"  # one probe call is in flight; its result decides


class CircuitBreaker:
    """Thread-safe; one per provider and model in a process."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.OPEN and self._cooled_down():
                return BreakerState.HALF_OPEN  # the next call will probe
            return self._state

    def _cooled_down(self) -> bool:
        """Open (or probing) for a whole cool-down period."""
        return self._clock() - self._opened_at >= self.reset_seconds

    def allow(self) -> bool:
        """May a call go out now? After the cool-down, exactly one caller gets to probe."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            # A probe whose caller never reported back must not wedge the breaker: after another
            # cool-down, let a new probe go.
            if self._cooled_down():
                self._state = BreakerState.HALF_OPEN
                self._opened_at = self._clock()
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
