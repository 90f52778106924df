"""The serving process evaluates in the background when alerts are configured, and only then."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forkable.app import build_services, create_app
from forkable.settings import Settings, SettingsError
from forkable.sites import SiteRegistry
from forkable.testing.http import LoopbackServer, RecordedRequest, Reply


def wait_for(server: LoopbackServer, count: int, timeout: float = 15) -> list[RecordedRequest]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(server.recorded()) >= count:
            return server.recorded()
        time.sleep(0.05)
    raise TimeoutError(f"{len(server.recorded())} notices arrived, expected {count}")


def test_the_background_evaluator_pages_about_failed_logins(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text('[rules.failed_logins]\nthreshold = 3\nwindow = "1m"\n', encoding="utf-8")
    with LoopbackServer(lambda _r: Reply(200, b"ok")) as receiver:
        settings = settings_factory(
            database_url=database_url,
            alert_webhook_url=f"{receiver.url}/hook",
            alert_rules=rules,
            alert_interval_seconds=1,
        )
        assert settings.alerts_active  # a channel is configured: alerts are on by themselves
        app = create_app(registry, settings, migrate=True, run_jobs=False)
        with TestClient(app, base_url="http://coloringbook.localhost") as client:
            for n in range(3):
                response = client.post(
                    "/api/v1/auth/login",
                    json={"email": f"guess{n}@example.com", "password": "not the password"},
                )
                assert response.status_code == 401
            [notice] = wait_for(receiver, 1)
            time.sleep(2.5)  # several more rounds: still one notice
            assert len(receiver.recorded()) == 1
        assert notice.path == "/hook"
        body = notice.json()
        assert (body["status"], body["rule"], body["value"]) == ("firing", "failed_logins", 3)
        assert body["summary"] == "3 failed logins in the last 60 s"


def test_without_channels_nothing_runs(
    app_factory_settings: Settings, registry: SiteRegistry
) -> None:
    app = create_app(registry, app_factory_settings, migrate=True, run_jobs=False)
    assert app.state.alerts is None


@pytest.fixture
def app_factory_settings(settings_factory: Callable[..., Settings], tmp_path: Path) -> Settings:
    return settings_factory(database_url=f"sqlite:///{tmp_path / 'quiet.sqlite3'}")


def test_a_broken_rules_file_stops_the_app_with_its_line(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text("[rules.failed_logins]\nthreshhold = 3\n", encoding="utf-8")
    settings = settings_factory(
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}", alerts="on", alert_rules=rules
    )
    services = build_services(registry, settings)
    try:
        with pytest.raises(SettingsError) as caught:
            create_app(registry, settings, services=services)
    finally:
        services.database.dispose()
    assert caught.value.problems == [
        f"{rules}:2: rules.failed_logins.threshhold: unknown key "
        "(see the rules table in docs/operations.md)"
    ]


def test_with_metrics_off_the_app_counts_requests_for_alerts_itself(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(
        database_url=f"sqlite:///{tmp_path / 'bare.sqlite3'}",
        alerts="on",
        alert_interval_seconds=3600,
        metrics_enabled=False,
    )
    app = create_app(registry, settings, migrate=True, run_jobs=False)
    recorder = app.state.alerts.recorder
    assert recorder is not None
    with TestClient(app, base_url="http://coloringbook.localhost") as client:
        response = client.post(
            "/api/v1/auth/login", json={"email": "a@example.com", "password": "wrong password"}
        )
        assert response.status_code == 401
        client.get("/healthz")
    snapshot = recorder.snapshot()
    assert (snapshot.http_requests, snapshot.login_failures) == (1, 1)
