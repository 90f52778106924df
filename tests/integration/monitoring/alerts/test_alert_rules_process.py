"""Rules on what only the serving process sees, fed by real requests through the real app."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.integration.monitoring.alerts.conftest import BuildEvaluator
from tests.support.alerting import Clock, KeptChannel, shipped

from forkable.monitoring.alerts.evaluator import Evaluator, Outcome
from forkable.monitoring.alerts.process import SignalSource
from forkable.settings import Settings

HOST = "http://coloringbook.localhost"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], database_url: str) -> Settings:
    """Alerts on (no channel: these tests read the app's signals with their own evaluator)."""
    return settings_factory(
        database_url=database_url,
        alerts="on",
        alert_interval_seconds=3600,
        stripe_webhook_secret="whsec_test",
    )


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    async def slow() -> dict[str, str]:
        await asyncio.sleep(0.3)
        return {"status": "slow"}

    def boom() -> None:
        raise RuntimeError("a bug in a route")

    app.add_api_route("/slow", slow)
    app.add_api_route("/boom", boom)
    with TestClient(app, base_url=HOST, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def source(app: FastAPI) -> SignalSource:
    """The app's own source of process signals (its metrics, or the request recorder)."""
    window = app.state.alerts.evaluator.window
    assert window is not None
    source: SignalSource = window.source
    return source


def only(evaluator: Evaluator) -> Outcome:
    [outcome] = evaluator.evaluate()
    return outcome


def test_failed_logins_fire_and_resolve(
    web: TestClient,
    source: SignalSource,
    build_evaluator: BuildEvaluator,
    clock: Clock,
    kept: KeptChannel,
) -> None:
    evaluator = build_evaluator(shipped("failed_logins", threshold=5), process=source)
    for n in range(5):
        response = web.post(
            "/api/v1/auth/login",
            json={"email": f"nobody{n}@example.com", "password": "not the password at all"},
        )
        assert response.status_code == 401
    assert web.get("/api/v1/packs").status_code == 200  # not a login failure

    outcome = only(evaluator)
    assert (outcome.state, outcome.value) == ("firing", 5)
    assert outcome.summary == "5 failed logins in the last 5 min"
    only(evaluator)
    assert kept.kinds() == [("firing", None)]

    clock.advance(301)
    assert only(evaluator).state == "ok"
    assert kept.kinds() == [("firing", None), ("resolved", None)]


def test_bad_webhook_signatures_fire_and_resolve(
    web: TestClient,
    source: SignalSource,
    build_evaluator: BuildEvaluator,
    clock: Clock,
    kept: KeptChannel,
) -> None:
    evaluator = build_evaluator(shipped("webhook_signature_failures"), process=source)
    for _ in range(5):
        response = web.post(
            "/api/v1/webhooks/stripe",
            content=b'{"type": "checkout.session.completed"}',
            headers={"stripe-signature": "t=1700000000,v1=" + "0" * 64},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_signature"

    outcome = only(evaluator)
    assert (outcome.state, outcome.value) == ("firing", 5)
    only(evaluator)
    clock.advance(15 * 60 + 1)
    only(evaluator)
    assert kept.kinds() == [("firing", None), ("resolved", None)]


def test_server_errors_fire_after_their_duration_and_resolve(
    web: TestClient,
    source: SignalSource,
    build_evaluator: BuildEvaluator,
    clock: Clock,
    kept: KeptChannel,
) -> None:
    evaluator = build_evaluator(shipped("http_error_rate"), process=source)  # for 2m, 20 samples
    for _ in range(10):
        assert web.get("/boom").status_code == 500
        assert web.get("/api/v1/packs").status_code == 200
    for _ in range(30):
        web.get("/readyz")  # probes are left out of the traffic

    pending = only(evaluator)
    assert pending.state == "pending"
    assert pending.summary == "10 of 20 responses were server errors in the last 5 min"
    clock.advance(121)
    assert only(evaluator).state == "firing"
    only(evaluator)
    assert kept.kinds() == [("firing", None)]

    clock.advance(300)  # no traffic since: too few requests to judge, which clears it
    resolved = only(evaluator)
    assert (resolved.state, resolved.value) == ("ok", None)
    assert kept.kinds() == [("firing", None), ("resolved", None)]


def test_slow_responses_fire_the_p95_rule_and_resolve(
    web: TestClient,
    source: SignalSource,
    build_evaluator: BuildEvaluator,
    clock: Clock,
    kept: KeptChannel,
) -> None:
    rule = shipped("http_latency_p95", threshold=0.25, min_samples=3, for_seconds=0)
    evaluator = build_evaluator(rule, process=source)
    for _ in range(3):
        assert web.get("/slow").status_code == 200

    outcome = only(evaluator)
    assert outcome.state == "firing"
    # Above the threshold: the route sleeps 0.3 s (how much more is up to the machine).
    assert outcome.value is not None and outcome.value > 0.25
    assert re.fullmatch(
        r"p95 response time \d+\.\d\d s over 3 requests in the last 5 min", outcome.summary
    ), outcome.summary
    clock.advance(301)
    only(evaluator)
    assert kept.kinds() == [("firing", None), ("resolved", None)]
