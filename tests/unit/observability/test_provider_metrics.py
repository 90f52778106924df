"""Provider errors, retries and the circuit gauge, recorded where they happen."""

from __future__ import annotations

import pytest
from PIL import Image

from forkable.observability.metrics import Metrics
from forkable.providers.base import BLOCKED, DOWN, ProviderError, TransformRequest, TransformResult
from forkable.providers.breaker import CircuitBreaker
from forkable.providers.guarded import GuardedProvider


class Failing:
    name = "flaky"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def transform(self, request: TransformRequest) -> TransformResult:
        raise ProviderError(self.reason, "no")


def request() -> TransformRequest:
    return TransformRequest(image=Image.new("RGB", (8, 8)), prompt="p")


def test_outages_open_the_circuit_and_show_in_metrics() -> None:
    metrics = Metrics()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=60)
    guarded = GuardedProvider(Failing(DOWN), breaker, metrics=metrics, circuit="flaky:m1")
    for _ in range(2):
        with pytest.raises(ProviderError):
            guarded.transform(request())
    snapshot = metrics.snapshot()
    assert snapshot["provider_errors"] == {"flaky": {"down": 1, "circuit_open": 1}}
    assert snapshot["open_circuits"] == ["flaky:m1"]


def test_a_refused_photo_keeps_the_circuit_closed() -> None:
    metrics = Metrics()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=60)
    guarded = GuardedProvider(Failing(BLOCKED), breaker, metrics=metrics, circuit="flaky:m1")
    with pytest.raises(ProviderError):
        guarded.transform(request())
    snapshot = metrics.snapshot()
    assert snapshot["provider_errors"] == {"flaky": {"blocked": 1}}
    assert snapshot["open_circuits"] == []
