"""Rate limits (moving window) in Redis when configured, in process memory otherwise."""

from __future__ import annotations

import math
from typing import Protocol

from forkable.ratelimit.limit import Limit, per_minute, per_seconds
from forkable.ratelimit.memory import MemoryWindows
from forkable.ratelimit.redis_windows import RedisObserver, RedisWindows

__all__ = ["Limit", "RateLimiter", "RedisObserver", "per_minute", "per_seconds"]


class Windows(Protocol):
    """Where the counts live; waits are in seconds, None when the event is allowed now."""

    def wait(self, limit: Limit, key: str) -> float | None: ...

    def hit(self, limit: Limit, key: str) -> float | None: ...

    def give_back(self, limit: Limit, key: str) -> None: ...

    def clear(self, limit: Limit, key: str) -> None: ...


class RateLimiter:
    """Checks and counts events; answers how many whole seconds to wait when over a limit.

    Several serving processes share their counts through Redis (`RedisWindows`); one process
    keeps them in memory (`MemoryWindows`, which, unlike the `limits` package's memory
    storage, starts no timer thread per event).
    """

    def __init__(self, redis_url: str | None = None, observer: RedisObserver | None = None) -> None:
        """``observer`` is told the time and outcome of every Redis call (none in memory)."""
        self.backend = "redis" if redis_url else "memory"
        self._windows: Windows = RedisWindows(redis_url, observer) if redis_url else MemoryWindows()

    def retry_after(self, limit: Limit, key: str) -> int | None:
        """Seconds until one more event is allowed, or None when it is allowed now."""
        return _whole(self._windows.wait(limit, key))

    def hit(self, limit: Limit, key: str) -> int | None:
        """Count one event; seconds to wait if it was over the limit (and so not counted)."""
        return _whole(self._windows.hit(limit, key))

    def give_back(self, limit: Limit, key: str) -> None:
        """Uncount the newest event under ``key``: one counted ahead that turned out not to count.

        Counting before the work (`hit`) is what makes a limit hold under concurrency; an event
        that then proves harmless (a login that succeeded) is given back.
        """
        self._windows.give_back(limit, key)

    def clear(self, limit: Limit, key: str) -> None:
        self._windows.clear(limit, key)


def _whole(seconds: float | None) -> int | None:
    """Whole seconds for a Retry-After header, at least 1."""
    return None if seconds is None else max(1, math.ceil(seconds))
