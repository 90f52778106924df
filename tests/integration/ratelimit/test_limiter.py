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


def test_give_back_uncounts_one_event(limiter: RateLimiter) -> None:
    limit = per_seconds("login-address", 3, 900)
    key = fresh_key()
    assert [limiter.hit(limit, key) for _ in range(3)] == [None, None, None]
    assert limiter.hit(limit, key) is not None
    limiter.give_back(limit, key)
    assert limiter.hit(limit, key) is None  # room for exactly one more
    assert limiter.hit(limit, key) is not None
    limiter.give_back(limit, key)
    limiter.give_back(limit, key)  # one event left in the window: room for two
    assert limiter.hit(limit, key) is None
    assert limiter.hit(limit, key) is None
    assert limiter.hit(limit, key) is not None
    limiter.clear(limit, key)
    limiter.give_back(limit, key)  # an empty window: nothing happens
    assert limiter.retry_after(limit, key) is None


def test_concurrent_hits_and_give_backs_keep_the_count(limiter: RateLimiter) -> None:
    """Every attempt counted ahead and half of them given back: the window holds the rest."""
    limit = per_minute("login-address", 20)
    key = fresh_key()
    start = threading.Barrier(10)

    def attempt(number: int) -> bool:
        start.wait()
        if limiter.hit(limit, key) is not None:
            return False
        if number % 2 == 0:
            limiter.give_back(limit, key)
        return True

    with ThreadPoolExecutor(10) as pool:
        assert all(pool.map(attempt, range(10)))
    assert [limiter.hit(limit, key) is None for _ in range(16)].count(True) == 15
    limiter.clear(limit, key)
