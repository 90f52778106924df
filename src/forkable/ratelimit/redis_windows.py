"""Moving windows in Redis (the `limits` package's), shared by every serving process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar, cast

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from forkable.ratelimit.limit import Limit

T = TypeVar("T")


class RedisObserver(Protocol):
    """Told how long each Redis operation took and whether it failed."""

    def call(self, operation: str, seconds: float, failed: bool) -> None: ...


class _Lists(Protocol):
    """The one Redis list command `limits`' client protocol does not declare."""

    def lpop(self, name: str) -> object: ...


class RedisWindows:
    """Per (limit name, key): allowed while fewer than ``count`` events in the last ``seconds``."""

    def __init__(self, url: str, observer: RedisObserver | None = None) -> None:
        storage = storage_from_string(url)
        if not isinstance(storage, RedisStorage):
            raise ValueError(f"not a Redis URL: {url.split('://', 1)[0]}://...")
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._observer = observer

    def _timed(self, operation: str, call: Callable[[], T]) -> T:
        """``call``'s result; with an observer, its time and whether it raised."""
        observer = self._observer
        if observer is None:
            return call()
        started = time.perf_counter()
        failed = True
        try:
            result = call()
            failed = False
            return result
        finally:
            observer.call(operation, time.perf_counter() - started, failed)

    def wait(self, limit: Limit, key: str) -> float | None:
        """Seconds until one more event is allowed; None when it is allowed now."""
        return self._timed("wait", lambda: self._wait(limit, key))

    def _wait(self, limit: Limit, key: str) -> float | None:
        item = _item(limit)
        if self._limiter.test(item, limit.name, key):
            return None
        return self._until_reset(item, limit, key)

    def hit(self, limit: Limit, key: str) -> float | None:
        """Count one event if allowed (None); else the seconds to wait, nothing counted."""
        return self._timed("hit", lambda: self._hit(limit, key))

    def _hit(self, limit: Limit, key: str) -> float | None:
        item = _item(limit)
        if self._limiter.hit(item, limit.name, key):
            return None
        return self._until_reset(item, limit, key)

    def give_back(self, limit: Limit, key: str) -> None:
        """Forget the newest event under ``key``.

        `limits` keeps a moving window as a Redis list of event times, newest first (its
        acquire script pushes on the left), so the newest event is one atomic LPOP away.
        """
        name = self._storage.prefixed_key(_item(limit).key_for(limit.name, key))
        self._timed("give_back", lambda: cast(_Lists, self._storage.get_connection()).lpop(name))

    def clear(self, limit: Limit, key: str) -> None:
        self._timed("clear", lambda: self._limiter.clear(_item(limit), limit.name, key))

    def _until_reset(self, item: RateLimitItem, limit: Limit, key: str) -> float:
        return self._limiter.get_window_stats(item, limit.name, key).reset_time - time.time()


def _item(limit: Limit) -> RateLimitItem:
    return RateLimitItemPerSecond(limit.count, limit.seconds)
