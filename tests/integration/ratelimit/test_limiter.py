"""The rate limiter as routes use it, on both backends: process memory and a real Redis."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from forkable.ratelimit import RateLimiter, per_minute, per_seconds


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    if request.param == "memory":
        yield RateLimiter()
    else:
        yield RateLimiter(request.getfixturevalue("redis_url"))


def fresh_key() -> str:
    """A key no earlier run left counts under (Redis keeps them for the window)."""
    return f"test-{secrets.token_hex(8)}"


def test_hits_up_to_the_limit_then_whole_seconds_to_wait(limiter: RateLimiter) -> None:
    limit = per_minute("generations", 3)
    key = fresh_key()
    assert [limiter.hit(limit, key) for _ in range(3)] == [None, None, None]
    wait = limiter.retry_after(limit, key)
    assert wait is not None and 1 <= wait <= 60
    refused = limiter.hit(limit, key)
    assert refused is not None and 1 <= refused <= 60
    limiter.clear(limit, key)
    assert limiter.retry_after(limit, key) is None


def test_retry_after_counts_nothing(limiter: RateLimiter) -> None:
    limit = per_seconds("login-account", 1, 900)
    key = fresh_key()
    assert [limiter.retry_after(limit, key) for _ in range(3)] == [None, None, None]
    assert limiter.hit(limit, key) is None
    assert limiter.hit(limit, key) is not None
    limiter.clear(limit, key)


def test_concurrent_hits_allow_exactly_the_limit(limiter: RateLimiter) -> None:
    """Thirty hits start together; exactly the limit's seven are allowed.

    In memory the hits of one process take turns on a lock by design; the Redis run is the
    race, between connections, settled inside Redis.
    """
    limit = per_minute("generations", 7)
    key = fresh_key()
    start = threading.Barrier(30)

    def hit(_: int) -> int | None:
        start.wait(10)
        return limiter.hit(limit, key)

    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(hit, range(30)))
    assert answers.count(None) == 7
    limiter.clear(limit, key)
