"""`/metrics` after a scripted journey: names, labels, values, route templates, the token."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.support.journey import Monitored, journey, samples, value

from forkable.app import create_app
from forkable.asgi import open_registry
from forkable.settings import Settings

SITE = "coloringbook"
CIRCUIT = "gemini:gemini-2.5-flash-image"


def test_the_journey_shows_in_every_family(monitored: Monitored) -> None:
    text = journey(monitored)
    found = samples(text)

    assert value(found, "forkable_signups_total", site=SITE) == 1
    assert value(found, "forkable_logins_total", site=SITE, outcome="failure") == 1
    assert value(found, "forkable_logins_total", site=SITE, outcome="success") == 1
    assert value(found, "forkable_logins_total", site=SITE, outcome="throttled") == 0
    made = {"site": SITE, "provider": "gemini"}
    assert (
        value(found, "forkable_generations_total", **made, style="default", outcome="succeeded")
        == 1
    )
    assert value(found, "forkable_generations_total", **made, style="kids", outcome="failed") == 1
    assert value(found, "forkable_generation_failures_total", **made, reason="blocked") == 1
    assert (
        value(found, "forkable_generation_duration_seconds_count", **made, outcome="succeeded") == 1
    )
    assert value(found, "forkable_provider_spend_usd_total", **made) > 0
    assert value(found, "forkable_provider_retries_total", provider="gemini", kind="429") == 1
    assert value(found, "forkable_provider_errors_total", provider="gemini", reason="blocked") == 1
    assert value(found, "forkable_provider_circuit_open", circuit=CIRCUIT) == 0
    assert value(found, "forkable_purchases_total", site=SITE, currency="usd") == 1
    assert value(found, "forkable_revenue_cents_total", site=SITE, currency="usd") == 499
    assert value(found, "forkable_tokens_granted_total", site=SITE, source="signup_bonus") == 3
    assert value(found, "forkable_tokens_granted_total", site=SITE, source="purchase") == 20
    assert value(found, "forkable_tokens_spent_total", site=SITE) == 1
    assert value(found, "forkable_tokens_refunded_total", site=SITE) == 1
    assert value(found, "forkable_webhook_deliveries_total", outcome="invalid_signature") == 1
    # Computed from the database at scrape time: nothing is waiting or held any more.
    assert value(found, "forkable_job_queue_depth", site=SITE) == 0
    assert value(found, "forkable_job_queue_oldest_age_seconds", site=SITE) == 0
    assert value(found, "forkable_open_holds", site=SITE) == 0
    assert value(found, "forkable_ready", component="database") == 1
    assert value(found, "forkable_site_daily_spend_cap_usd", site=SITE) == 50
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["forkable_http_request_duration_seconds"].type == "histogram"
    assert families["forkable_generations"].type == "counter"
    assert families["forkable_job_queue_depth"].type == "gauge"


def test_requests_are_labelled_by_route_template_never_the_raw_path(monitored: Monitored) -> None:
    journey(monitored)
    monitored.client.get("/no/such/page")
    text = monitored.scrape()
    routes = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for f in text_string_to_metric_families(text)
        if f.name == "forkable_http_requests"
        for s in f.samples
    }
    assert routes[("/api/v1/generations/{generation_id}", "GET", "200")] >= 2
    assert routes[("/api/v1/generations", "POST", "202")] == 2
    assert routes[("/api/v1/demo/purchases/{purchase_id}/complete", "POST", "200")] == 1
    assert routes[("/api/v1/auth/login", "POST", "401")] == 1
    assert routes[("unmatched", "GET", "404")] == 1
    # No generation or purchase id (32 hex digits) ever becomes a label value.
    assert not re.search(r"[0-9a-f]{32}", text)
    latency = {
        s.labels["route"]
        for f in text_string_to_metric_families(text)
        if f.name == "forkable_http_request_duration_seconds"
        for s in f.samples
    }
    assert "/api/v1/generations/{generation_id}" in latency


def test_requests_carry_and_echo_a_request_id(monitored: Monitored) -> None:
    mine = monitored.client.get("/healthz", headers={"x-request-id": "probe-42"})
    assert mine.headers["x-request-id"] == "probe-42"
    made = monitored.client.get("/healthz", headers={"x-request-id": "not <valid>"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert monitored.client.get("/nothing-here").headers["x-request-id"]


def test_snapshot_gives_alerting_the_same_counts(monitored: Monitored) -> None:
    journey(monitored)
    snapshot = monitored.services.metrics.snapshot()
    assert snapshot["login_failures_total"] == 1
    assert snapshot["webhook_signature_failures_total"] == 1
    assert snapshot["generations"][SITE] == {"succeeded": 1, "failed": 1}
    assert snapshot["generation_failures"][SITE] == {"blocked": 1}
    assert snapshot["http_errors_total"] == 0
    buckets = snapshot["http_request_duration_seconds_buckets"]
    assert buckets[-1][0] == float("inf")
    assert buckets[-1][1] == snapshot["http_requests_total"] > 0
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)


PRODUCTION = {
    "env": "production",
    "payments": "stripe",
    "stripe_secret_key": "sk_test_x",
    "stripe_webhook_secret": "whsec_x",
    "gemini_api_key": "g",
    "metrics_token": "the-metrics-token-of-32-characters",
    "smtp_url": "smtp://127.0.0.1:25",
}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": "Bearer wrong-token"}, 401),
        ({"authorization": "Basic the-metrics-token-of-32-characters"}, 401),
        ({"authorization": "Bearer the-metrics-token-of-32-characters"}, 200),
    ],
)
def test_production_metrics_need_the_bearer_token(
    sites_dir: Path,
    settings_factory: Callable[..., Settings],
    headers: dict[str, str],
    status: int,
) -> None:
    settings = settings_factory(**PRODUCTION)
    app = create_app(open_registry(sites_dir), settings, migrate=True, run_jobs=False)
    # Unknown hosts too: scrapers call by address.
    with TestClient(app, base_url="http://10.0.0.7:8000") as client:
        response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "forkable_" not in response.text
    else:
        assert "forkable_http_requests_total" in response.text


def test_development_metrics_are_open_unless_a_token_is_set(
    sites_dir: Path, settings_factory: Callable[..., Settings]
) -> None:
    registry = open_registry(sites_dir / "coloringbook")
    open_app = create_app(registry, settings_factory(), migrate=True, run_jobs=False)
    with TestClient(open_app) as client:
        assert client.get("/metrics").status_code == 200
    locked = create_app(registry, settings_factory(metrics_token="t"), migrate=True, run_jobs=False)
    with TestClient(locked) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"authorization": "Bearer t"}).status_code == 200


def test_metrics_switched_off(sites_dir: Path, settings_factory: Callable[..., Settings]) -> None:
    app = create_app(
        open_registry(sites_dir / "coloringbook"),
        settings_factory(metrics_enabled=False),
        migrate=True,
        run_jobs=False,
    )
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404
        assert "x-request-id" not in client.get("/healthz").headers


@pytest.mark.parametrize("access_log", [True, False])
def test_one_access_line_per_request_unless_switched_off(
    sites_dir: Path,
    settings_factory: Callable[..., Settings],
    capsys: pytest.CaptureFixture[str],
    access_log: bool,
) -> None:
    app = create_app(
        open_registry(sites_dir / "coloringbook"),
        settings_factory(access_log=access_log),
        migrate=True,
        run_jobs=False,
    )
    with TestClient(app) as client:
        answered = client.get("/api/v1/packs", headers={"x-request-id": "line-1"})
        client.get("/healthz")  # probes are logged only when they fail
        client.get("/metrics")
    # The access log writes to stderr itself (not through logging); the app's stop writes the
    # last lines.
    lines = [line for line in capsys.readouterr().err.splitlines() if "forkable.access:" in line]
    assert answered.headers["x-request-id"] == "line-1"  # the id is echoed either way
    if not access_log:
        assert lines == []
        return
    (line,) = lines
    assert "forkable.access: GET /api/v1/packs 200 " in line
    assert "request_id=line-1 " in line and "route=/api/v1/packs status=200 " in line
