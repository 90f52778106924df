"""Process signals: the metrics snapshot contract, windows over snapshots, the request recorder."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse

from forkable.db.types import utcnow
from forkable.monitoring.alerts.process import (
    LATENCY_BUCKETS,
    ProcessSnapshot,
    ProcessWindow,
    RecordingMiddleware,
    RequestRecorder,
    quantile,
    snapshot_from,
)

INF = math.inf


class Counting:
    """A source whose counters the test sets."""

    def __init__(self) -> None:
        self.current = ProcessSnapshot(http_requests=0, http_errors=0, login_failures=0)

    def snapshot(self) -> ProcessSnapshot:
        return self.current


def test_the_metrics_snapshot_contract() -> None:
    snapshot = snapshot_from(
        {
            "http_requests_total": 40,
            "http_errors_total": 3,
            "http_request_duration_seconds_buckets": [(0.5, 30), (2.0, 38), (INF, 40)],
            "login_failures_total": 7,
            "webhook_signature_failures_total": 1,
            "open_circuits": ["gemini:gemini-2.5-flash-image"],
            "generations": {"coloringbook": {"failed": 2}},  # more keys are fine
        }
    )
    assert snapshot == ProcessSnapshot(
        40, 3, ((0.5, 30), (2.0, 38), (INF, 40)), 7, 1, ("gemini:gemini-2.5-flash-image",)
    )
    assert snapshot_from({"login_failures_total": 2}).http_requests is None  # not counted
    with pytest.raises(ValueError, match=r"\+Inf"):
        snapshot_from({"http_request_duration_seconds_buckets": {0.5: 1}})


def test_quantiles_interpolate_inside_buckets_like_prometheus() -> None:
    buckets = ((0.5, 50), (1.0, 90), (2.0, 100), (INF, 100))
    assert quantile(0.5, buckets) == 0.5
    assert quantile(0.95, buckets) == pytest.approx(1.5)
    assert quantile(0.95, ((1.0, 0), (INF, 10))) == 1.0  # beyond the last bound: that bound
    assert quantile(0.95, ((1.0, 0), (INF, 0))) is None


def test_windows_subtract_the_snapshot_from_their_start() -> None:
    source = Counting()
    t0 = utcnow()
    window = ProcessWindow(source, keep_seconds=300)
    window.observe(t0)
    source.current = ProcessSnapshot(http_requests=10, http_errors=4, login_failures=3)
    window.observe(t0 + timedelta(seconds=60))
    change = window.change(t0 + timedelta(seconds=60), 300)
    assert change == ProcessSnapshot(http_requests=10, http_errors=4, login_failures=3)

    source.current = ProcessSnapshot(http_requests=12, http_errors=4, login_failures=3)
    window.observe(t0 + timedelta(seconds=400))
    # From the newest snapshot at or before the window's start (t0 + 60 s).
    change = window.change(t0 + timedelta(seconds=400), 300)
    assert change == ProcessSnapshot(http_requests=2, http_errors=0, login_failures=0)


def test_a_broken_source_leaves_a_gap() -> None:
    class Broken:
        def snapshot(self) -> ProcessSnapshot:
            raise RuntimeError("scrape failed")

    window = ProcessWindow(Broken(), keep_seconds=60)
    window.observe(utcnow())
    assert window.change(utcnow(), 60) is None


def test_the_recorder_counts_what_the_rules_read() -> None:
    recorder = RequestRecorder()
    app = FastAPI()

    @app.post("/api/v1/auth/login")
    def login() -> JSONResponse:
        return JSONResponse({"error": "wrong"}, status_code=401)

    @app.post("/api/v1/webhooks/stripe")
    def webhook() -> JSONResponse:
        return JSONResponse({"error": "bad signature"}, status_code=400)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(RecordingMiddleware, recorder=recorder)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.post("/api/v1/auth/login")
        client.post("/api/v1/auth/login")
        client.post("/api/v1/webhooks/stripe")
        assert client.get("/boom").status_code == 500
        client.get("/healthz")  # probes are not traffic
        client.get("/missing")
    snapshot = recorder.snapshot()
    assert (snapshot.http_requests, snapshot.http_errors) == (5, 1)
    assert (snapshot.login_failures, snapshot.webhook_signature_failures) == (2, 1)
    assert snapshot.latency_buckets is not None
    assert [bound for bound, _ in snapshot.latency_buckets] == list(LATENCY_BUCKETS)
    assert snapshot.latency_buckets[-1][1] == 5
