"""What only the serving process sees: its HTTP traffic, failed logins, bad webhook signatures.

A `SignalSource` gives cumulative counters (Prometheus style); `ProcessWindow` keeps the
snapshots taken at each evaluation and subtracts them, so a rule's window is a difference of
two snapshots. The source is the app's metrics (`services.metrics.snapshot()`, a mapping with
the METRICS_KEYS); with metrics switched off, `RequestRecorder`, fed by `RecordingMiddleware`,
counts the same things.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

# Bounds in seconds; 2.0 is one of them so the default p95 rule reads an exact bucket edge.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, math.inf)
# Probes and scrapes would drown real traffic and report their own failures twice.
UNRECORDED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
LOGIN_PATH = "/api/v1/auth/login"
STRIPE_WEBHOOK_PATH = "/api/v1/webhooks/stripe"

Buckets = tuple[tuple[float, int], ...]


@dataclass(frozen=True)
class ProcessSnapshot:
    """Counters since the process started; None where the source does not count that."""

    http_requests: int | None = None
    http_errors: int | None = None  # responses with status 500 or above
    latency_buckets: Buckets | None = None  # (upper bound in s, requests at or under it)
    login_failures: int | None = None
    webhook_signature_failures: int | None = None
    open_circuits: tuple[str, ...] | None = None  # a gauge, not a counter: the state now


class SignalSource(Protocol):
    """Anything that can report the process's counters now."""

    def snapshot(self) -> ProcessSnapshot: ...


# The keys of `Metrics.snapshot()` (forkable.observability.metrics), mapped onto ProcessSnapshot's fields.
METRICS_KEYS = {
    "http_requests_total": "http_requests",
    "http_errors_total": "http_errors",
    "http_request_duration_seconds_buckets": "latency_buckets",
    "login_failures_total": "login_failures",
    "webhook_signature_failures_total": "webhook_signature_failures",
    "open_circuits": "open_circuits",
}


def snapshot_from(data: object) -> ProcessSnapshot:
    """Read a metrics snapshot: a ProcessSnapshot, or a mapping with the METRICS_KEYS."""
    if isinstance(data, ProcessSnapshot):
        return data
    if not isinstance(data, Mapping):
        raise TypeError(f"a metrics snapshot must be a mapping, not {type(data).__name__}")
    values: dict[str, Any] = {}
    for key, field in METRICS_KEYS.items():
        value = data.get(key)
        if value is None:
            continue
        if field == "latency_buckets":
            values[field] = _buckets(value)
        elif field == "open_circuits":
            values[field] = tuple(str(name) for name in value)
        else:
            values[field] = int(value)
    return ProcessSnapshot(**values)


def _buckets(value: object) -> Buckets:
    if isinstance(value, Mapping):
        pairs: list[Any] = list(value.items())
    elif isinstance(value, Sequence):
        pairs = list(value)
    else:
        raise TypeError("latency buckets must be (upper bound, count) pairs")
    parsed = sorted((float(bound), int(count)) for bound, count in pairs)
    if not parsed or not math.isinf(parsed[-1][0]):
        raise ValueError("latency buckets must end with the +Inf bucket")
    return tuple(parsed)


class MetricsSource:
    """Adapts a metrics `snapshot()` callable."""

    def __init__(self, snapshot: Callable[[], object]) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> ProcessSnapshot:
        return snapshot_from(self._snapshot())


class RequestRecorder:
    """Counts responses, server errors, latencies, failed logins and rejected webhooks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._errors = 0
        self._buckets = [0] * len(LATENCY_BUCKETS)
        self._logins = 0
        self._webhooks = 0

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests += 1
            self._errors += int(status >= 500)
            for position, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self._buckets[position] += 1
            if method == "POST" and path == LOGIN_PATH and status == 401:
                self._logins += 1
            # The webhook route answers 400 only when the signature does not verify.
            if method == "POST" and path == STRIPE_WEBHOOK_PATH and status == 400:
                self._webhooks += 1

    def snapshot(self) -> ProcessSnapshot:
        with self._lock:
            return ProcessSnapshot(
                http_requests=self._requests,
                http_errors=self._errors,
                latency_buckets=tuple(zip(LATENCY_BUCKETS, self._buckets, strict=True)),
                login_failures=self._logins,
                webhook_signature_failures=self._webhooks,
            )


class RecordingMiddleware:
    """Pure ASGI: times each HTTP request and hands its outcome to a RequestRecorder."""

    def __init__(self, app: ASGIApp, recorder: RequestRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNRECORDED_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response starts becomes a 500 outside us

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except asyncio.CancelledError:
            raise  # the client went away: no response, nothing to count
        finally:
            elapsed = time.perf_counter() - started
            self.recorder.observe(scope["method"], scope["path"], status, elapsed)


class ProcessWindow:
    """The snapshots taken at each evaluation, to subtract over a rule's window."""

    def __init__(self, source: SignalSource, *, keep_seconds: float) -> None:
        self.source = source
        self.keep = timedelta(seconds=keep_seconds)
        self._history: deque[tuple[datetime, ProcessSnapshot]] = deque()
        self._lock = threading.Lock()

    def observe(self, now: datetime) -> None:
        """Take a snapshot; a broken source leaves a gap instead of stopping the evaluator."""
        try:
            snapshot = self.source.snapshot()
        except Exception:
            logger.exception("the process metrics source failed; HTTP alert rules skip a beat")
            return
        with self._lock:
            self._history.append((now, snapshot))
            # Keep the newest snapshot at or before the longest window, drop older ones.
            while len(self._history) > 1 and self._history[1][0] <= now - self.keep:
                self._history.popleft()

    def latest(self) -> ProcessSnapshot | None:
        with self._lock:
            return self._history[-1][1] if self._history else None

    def change(self, now: datetime, seconds: float) -> ProcessSnapshot | None:
        """What the counters did over at least the last ``seconds`` (less when just started)."""
        with self._lock:
            if not self._history:
                return None
            latest = self._history[-1][1]
            start = now - timedelta(seconds=seconds)
            # The newest snapshot at or before the window's start, else the oldest one.
            base = self._history[0][1]
            for taken, snapshot in self._history:
                if taken > start:
                    break
                base = snapshot
        return _difference(latest, base)


def _difference(latest: ProcessSnapshot, base: ProcessSnapshot) -> ProcessSnapshot:
    values: dict[str, Any] = {}
    for field in fields(ProcessSnapshot):
        now, then = getattr(latest, field.name), getattr(base, field.name)
        if field.name == "open_circuits":
            values[field.name] = now
            continue
        if now is None or then is None:
            continue
        if field.name == "latency_buckets":
            if [b for b, _ in now] != [b for b, _ in then]:
                # A labelled histogram lists its bounds only after its first observation.
                if not then or then[-1][1] == 0:
                    values[field.name] = now
                continue  # otherwise the source changed its buckets: no honest difference
            values[field.name] = tuple(
                (b, max(0, n - m)) for (b, n), (_, m) in zip(now, then, strict=True)
            )
        else:
            values[field.name] = max(0, now - then)  # a reset counter reads as zero, not negative
    return ProcessSnapshot(**values)


def quantile(q: float, buckets: Buckets) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated as Prometheus does."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bound: report that bound
            inside = count - below
            return bound if inside <= 0 else lower + (bound - lower) * (rank - below) / inside
        lower, below = bound, count
    return lower
