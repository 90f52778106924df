"""The worker's own /metrics server: the exposition, behind the token when one is set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from forkable.observability.metrics import Metrics
from forkable.observability.metrics_server import MetricsServer


@contextmanager
def serving(metrics: Metrics, token: str | None = None) -> Iterator[str]:
    server = MetricsServer(metrics, port=0, token=token)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_metrics_are_served_on_loopback() -> None:
    metrics = Metrics(role="worker")
    metrics.record_provider_error("gemini", "busy")
    with serving(metrics) as url:
        answer = httpx.get(f"{url}/metrics", timeout=5)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        assert 'forkable_process_resident_memory_bytes{role="worker"}' in answer.text
        assert 'forkable_provider_errors_total{provider="gemini",reason="busy"} 1.0' in answer.text
        assert httpx.get(f"{url}/other", timeout=5).status_code == 404


def test_a_token_is_required_when_set() -> None:
    with serving(Metrics(role="worker"), token="s" * 32) as url:
        refused = httpx.get(f"{url}/metrics", timeout=5)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=5)
        assert wrong.status_code == 401
        right = httpx.get(
            f"{url}/metrics", headers={"Authorization": f"Bearer {'s' * 32}"}, timeout=5
        )
        assert right.status_code == 200
