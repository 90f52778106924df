"""Rate limits (moving window) in Redis when configured, in process memory otherwise."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

__all__ = ["Limit", "RateLimiter", "per_minute", "per_seconds"]


@dataclass(frozen=True)
class Limit:
    """``count`` events per ``seconds``, under a name that keeps limits apart."""

    name: str
    item: RateLimitItem


def per_minute(name: str, count: int) -> Limit:
    return Limit(name, RateLimitItemPerMinute(count))


def per_seconds(name: str, count: int, seconds: int) -> Limit:
    return Limit(name, RateLimitItemPerSecond(count, seconds))


class RateLimiter:
    """Checks and counts events; answers how many seconds to wait when over a limit."""

    def __init__(self, redis_url: str | None = None) -> None:
        uri = redis_url or "memory://"
        self.backend = "redis" if redis_url else "memory"
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri))

    def retry_after(self, limit: Limit, key: str) -> int | None:
        """Seconds until one more event is allowed, or None when it is allowed now."""
        if self._limiter.test(limit.item, limit.name, key):
            return None
        stats = self._limiter.get_window_stats(limit.item, limit.name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def hit(self, limit: Limit, key: str) -> int | None:
        """Count one event; seconds to wait if it was over the limit (and so not counted)."""
        if self._limiter.hit(limit.item, limit.name, key):
            return None
        stats = self._limiter.get_window_stats(limit.item, limit.name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def clear(self, limit: Limit, key: str) -> None:
        self._limiter.clear(limit.item, limit.name, key)
