"""A provider behind a circuit breaker, with the site's local filter as an optional stand-in."""

from __future__ import annotations

from forkable.observability.metrics import Metrics
from forkable.providers.base import (
    BUSY,
    DEADLINE,
    DOWN,
    QUOTA,
    Provider,
    ProviderError,
    TransformRequest,
    TransformResult,
    close_provider,
)
from forkable.providers.breaker import BreakerState, CircuitBreaker

# Failures that say the service is unwell; a refused photo says nothing about its health.
OUTAGE_REASONS = frozenset({DOWN, BUSY, DEADLINE, QUOTA})


class GuardedProvider:
    """Fails fast (or falls back) while the breaker is open; feeds it every outcome."""

    def __init__(
        self,
        inner: Provider,
        breaker: CircuitBreaker,
        fallback: Provider | None = None,
        *,
        metrics: Metrics | None = None,
        circuit: str | None = None,
    ) -> None:
        self.inner = inner
        self.breaker = breaker
        self.fallback = fallback
        self.name = inner.name
        self.metrics = metrics or Metrics(enabled=False)
        self.circuit = circuit or inner.name  # the breaker's name in metrics: provider:model

    def close(self) -> None:
        close_provider(self.inner)
        if self.fallback is not None:
            close_provider(self.fallback)

    def transform(self, request: TransformRequest) -> TransformResult:
        if not self.breaker.allow():
            self.metrics.record_provider_error(self.name, "circuit_open")
            if self.fallback is not None:
                return self.fallback.transform(request)
            raise ProviderError(DOWN, f"{self.inner.name} circuit open")
        try:
            result = self.inner.transform(request)
        except ProviderError as exc:
            self.metrics.record_provider_error(self.name, exc.reason)
            if exc.reason in OUTAGE_REASONS:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            self._report_circuit()
            raise
        self.breaker.record_success()
        self._report_circuit()
        return result

    def _report_circuit(self) -> None:
        self.metrics.record_circuit(self.circuit, self.breaker.state is not BreakerState.CLOSED)
