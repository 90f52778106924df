"""Moving windows in Redis (the `limits` package's), shared by every serving process."""

from __future__ import annotations

import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from forkable.ratelimit.limit import Limit


class RedisWindows:
    """Per (limit name, key): allowed while fewer than ``count`` events in the last ``seconds``."""

    def __init__(self, url: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(url))

    def wait(self, limit: Limit, key: str) -> float | None:
        """Seconds until one more event is allowed; None when it is allowed now."""
        item = _item(limit)
        if self._limiter.test(item, limit.name, key):
            return None
        return self._until_reset(item, limit, key)

    def hit(self, limit: Limit, key: str) -> float | None:
        """Count one event if allowed (None); else the seconds to wait, nothing counted."""
        item = _item(limit)
        if self._limiter.hit(item, limit.name, key):
            return None
        return self._until_reset(item, limit, key)

    def clear(self, limit: Limit, key: str) -> None:
        self._limiter.clear(_item(limit), limit.name, key)

    def _until_reset(self, item: RateLimitItem, limit: Limit, key: str) -> float:
        return self._limiter.get_window_stats(item, limit.name, key).reset_time - time.time()


def _item(limit: Limit) -> RateLimitItem:
    return RateLimitItemPerSecond(limit.count, limit.seconds)
