"""Rate limits (moving window) in Redis when configured, in process memory otherwise."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from forkable.ratelimit.memory import MemoryWindows

__all__ = ["Limit", "RateLimiter", "per_minute", "per_seconds"]


@dataclass(frozen=True)
class Limit:
    """``count`` events per ``seconds``, under a name that keeps limits apart."""

    name: str
    item: RateLimitItem

    @property
    def count(self) -> int:
        return self.item.amount

    @property
    def seconds(self) -> int:
        return self.item.get_expiry()


def per_minute(name: str, count: int) -> Limit:
    return Limit(name, RateLimitItemPerMinute(count))


def per_seconds(name: str, count: int, seconds: int) -> Limit:
    return Limit(name, RateLimitItemPerSecond(count, seconds))


class RateLimiter:
    """Checks and counts events; answers how many seconds to wait when over a limit.

    Several serving processes share their counts through Redis (the `limits` package's moving
    window); one process keeps them in memory (`MemoryWindows`, which, unlike that package's
    memory storage, starts no timer thread per event).
    """

    def __init__(self, redis_url: str | None = None) -> None:
        self.backend = "redis" if redis_url else "memory"
        self._redis = MovingWindowRateLimiter(storage_from_string(redis_url)) if redis_url else None
        self._memory = MemoryWindows()

    def retry_after(self, limit: Limit, key: str) -> int | None:
        """Seconds until one more event is allowed, or None when it is allowed now."""
        if self._redis is None:
            return _whole(self._memory.wait(limit.name, key, limit.count, limit.seconds))
        if self._redis.test(limit.item, limit.name, key):
            return None
        return _redis_wait(self._redis, limit, key)

    def hit(self, limit: Limit, key: str) -> int | None:
        """Count one event; seconds to wait if it was over the limit (and so not counted)."""
        if self._redis is None:
            return _whole(self._memory.hit(limit.name, key, limit.count, limit.seconds))
        if self._redis.hit(limit.item, limit.name, key):
            return None
        return _redis_wait(self._redis, limit, key)

    def clear(self, limit: Limit, key: str) -> None:
        if self._redis is None:
            self._memory.clear(limit.name, key)
        else:
            self._redis.clear(limit.item, limit.name, key)


def _redis_wait(redis: MovingWindowRateLimiter, limit: Limit, key: str) -> int:
    stats = redis.get_window_stats(limit.item, limit.name, key)
    return max(1, math.ceil(stats.reset_time - time.time()))


def _whole(seconds: float | None) -> int | None:
    """Whole seconds for a Retry-After header, at least 1."""
    return None if seconds is None else max(1, math.ceil(seconds))
