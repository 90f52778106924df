"""Redis calls of the rate limiter timed by operation, and counted when Redis is unreachable."""

from __future__ import annotations

import secrets

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from tests.serving import free_port
from tests.support.metrics import exported

from forkable.observability.metrics import Metrics
from forkable.ratelimit import RateLimiter, per_minute

LIMIT = per_minute("metrics-test", 2)


def calls(metrics: Metrics, operation: str) -> tuple[float, float]:
    found = exported(metrics)
    labels = (("operation", operation),)
    return (
        found.get(("forkable_redis_call_duration_seconds_count", labels), 0.0),
        found.get(("forkable_redis_errors_total", labels), 0.0),
    )


def test_every_operation_is_timed(redis_url: str) -> None:
    metrics = Metrics()
    limiter = RateLimiter(redis_url, observer=metrics.redis)
    key = secrets.token_hex(8)
    assert limiter.hit(LIMIT, key) is None
    assert limiter.retry_after(LIMIT, key) is None
    limiter.give_back(LIMIT, key)
    limiter.clear(LIMIT, key)
    for operation in ("hit", "wait", "give_back", "clear"):
        assert calls(metrics, operation) == (1, 0), operation
    found = exported(metrics)
    assert found[("forkable_redis_call_duration_seconds_sum", (("operation", "hit"),))] > 0
    assert key not in metrics.exposition().decode()


def test_an_unreachable_redis_counts_errors() -> None:
    metrics = Metrics()
    # A port nobody listens on: every connection is refused at once.
    limiter = RateLimiter(f"redis://127.0.0.1:{free_port()}/0", observer=metrics.redis)
    with pytest.raises(RedisConnectionError):
        limiter.hit(LIMIT, "someone")
    with pytest.raises(RedisConnectionError):
        limiter.retry_after(LIMIT, "someone")
    assert calls(metrics, "hit") == (1, 1)
    assert calls(metrics, "wait") == (1, 1)
