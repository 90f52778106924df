"""Moving windows kept in this process's memory: the times of each key's recent events.

For a single serving process (the embedded default). Counting an event takes a lock and a
few list operations and starts no thread: keys nobody used for a whole window are swept out
while events are counted, so memory stays bounded by the keys active within their windows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from forkable.ratelimit.limit import Limit

# Counted events between two sweeps of idle keys.
SWEEP_EVERY = 1024


# Small on purpose: a window lives as long as its limit's period (a known address for 30 days),
# one per key. With slots and a list (a deque starts with a 64-slot block) a window and its
# key take about a third of the memory; a list's front is cheap to cut at these counts.
@dataclass(slots=True)
class _Window:
    seconds: float
    times: list[float] = field(default_factory=list)  # oldest first


class MemoryWindows:
    """Per (limit name, key): allowed while fewer than ``count`` events in the last ``seconds``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()
        self._counted_since_sweep = 0

    def wait(self, limit: Limit, key: str) -> float | None:
        """Seconds until one more event is allowed; None when it is allowed now."""
        now = self._clock()
        with self._lock:
            window = self._windows.get((limit.name, key))
            return None if window is None else _wait(window, limit.count, now)

    def hit(self, limit: Limit, key: str) -> float | None:
        """Count one event if allowed (None); else the seconds to wait, nothing counted."""
        now = self._clock()
        with self._lock:
            window = self._windows.get((limit.name, key))
            if window is None:
                window = self._windows[(limit.name, key)] = _Window(limit.seconds)
            wait = _wait(window, limit.count, now)
            if wait is None:
                window.times.append(now)
                self._counted_since_sweep += 1
                if self._counted_since_sweep >= SWEEP_EVERY:
                    self._sweep(now)
            return wait

    def give_back(self, limit: Limit, key: str) -> None:
        """Forget the newest event under ``key`` (none: nothing happens)."""
        with self._lock:
            window = self._windows.get((limit.name, key))
            if window is not None and window.times:
                window.times.pop()

    def clear(self, limit: Limit, key: str) -> None:
        with self._lock:
            self._windows.pop((limit.name, key), None)

    def __len__(self) -> int:
        """Keys held: those with an event within their window, until the next sweep."""
        with self._lock:
            return len(self._windows)

    def _sweep(self, now: float) -> None:
        self._counted_since_sweep = 0
        idle = [
            name_key
            for name_key, window in self._windows.items()
            if not window.times or window.times[-1] <= now - window.seconds
        ]
        for name_key in idle:
            del self._windows[name_key]


def _wait(window: _Window, count: int, now: float) -> float | None:
    times = window.times
    expired = 0
    while expired < len(times) and times[expired] <= now - window.seconds:
        expired += 1
    del times[:expired]
    if len(times) < count:
        return None
    # The event that must leave the window first is the count-th newest.
    return times[-count] + window.seconds - now
