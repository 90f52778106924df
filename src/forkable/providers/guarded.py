"""A provider behind a circuit breaker, with the site's local filter as an optional stand-in."""

from __future__ import annotations

from forkable.providers.base import (
    BUSY,
    DEADLINE,
    DOWN,
    QUOTA,
    Provider,
    ProviderError,
    TransformRequest,
    TransformResult,
)
from forkable.providers.breaker import CircuitBreaker

# Failures that say the service is unwell; a refused photo says nothing about its health.
OUTAGE_REASONS = frozenset({DOWN, BUSY, DEADLINE, QUOTA})


class GuardedProvider:
    """Fails fast (or falls back) while the breaker is open; feeds it every outcome."""

    def __init__(
        self, inner: Provider, breaker: CircuitBreaker, fallback: Provider | None = None
    ) -> None:
        self.inner = inner
        self.breaker = breaker
        self.fallback = fallback
        self.name = inner.name

    def transform(self, request: TransformRequest) -> TransformResult:
        if not self.breaker.allow():
            if self.fallback is not None:
                return self.fallback.transform(request)
            raise ProviderError(DOWN, f"{self.inner.name} circuit open")
        try:
            result = self.inner.transform(request)
        except ProviderError as exc:
            if exc.reason in OUTAGE_REASONS:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            raise
        self.breaker.record_success()
        return result
