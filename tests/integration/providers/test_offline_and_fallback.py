"""Without a key: an offline preview in development, a start-up error in production;
with `fallback_when_down`, the local filter stands in while the provider is failing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import sign_up, upload, wait_for

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.asgi import open_registry
from forkable.generations.models import Generation
from forkable.generations.runner import RunnerConfig
from forkable.providers.breaker import CircuitBreaker
from forkable.providers.resolver import ProviderResolver
from forkable.services import Services
from forkable.settings import Settings, SettingsError
from forkable.sites import SiteRegistry
from forkable.testing import fake_gemini
from forkable.testing.fake_gemini import FakeGemini

PRODUCTION = {
    "env": "production", "payments": "stripe",
    "stripe_secret_key": "sk_test_x", "stripe_webhook_secret": "whsec_x", "metrics_token": "m" * 32,
    "smtp_url": "smtp://127.0.0.1:25",
}  # fmt: skip


def test_production_without_a_gemini_key_refuses_to_start(
    registry: SiteRegistry, settings_factory: Callable[..., Settings]
) -> None:
    with pytest.raises(SettingsError) as caught:
        create_app(registry, settings_factory(**PRODUCTION))
    assert caught.value.problems == [
        f"site {site} uses the gemini provider: set GEMINI_API_KEY (or GOOGLE_API_KEY)"
        for site in ("cartoonavatar", "coloringbook", "pencilsketch")
    ]


def test_development_without_a_key_runs_the_fallback_filter(
    client: TestClient, services: Services
) -> None:
    user = sign_up(client)
    page = client.get("/app")
    assert "Offline preview" in page.text
    done = wait_for(client, upload(client, user).json()["id"])  # type: ignore[attr-defined]
    assert done["status"] == "succeeded"
    with services.database.session() as session:
        row = session.scalar(select(Generation))
    assert row is not None and row.provider == "local:coloring_book"


def test_fallback_while_the_provider_is_down(
    sites_dir: Path, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    manifest = sites_dir / "coloringbook" / "site.toml"
    manifest.write_text(
        manifest.read_text().replace(
            "max_upload_mb = 10", "max_upload_mb = 10\nfallback_when_down = true"
        )
    )
    registry = open_registry(sites_dir / "coloringbook")
    with FakeGemini() as fake:
        fake.default = fake_gemini.server_error(503)
        settings = settings_factory(
            database_url=database_url, gemini_api_key="k", gemini_base_url=fake.url
        )
        resolver = ProviderResolver(
            settings, breaker_factory=lambda: CircuitBreaker(failure_threshold=1, reset_seconds=60)
        )
        services = build_services(
            registry, settings, passwords=fast_passwords(), resolver=resolver,
            runner_config=RunnerConfig(workers=1, lease_seconds=10, poll_seconds=0.05, deadline_seconds=1.0),
        )  # fmt: skip
        app = create_app(registry, settings, services=services, migrate=True)
        with TestClient(app) as client:
            user = sign_up(client)
            first = wait_for(client, upload(client, user).json()["id"])  # type: ignore[attr-defined]
            assert first["status"] == "failed"  # this one met the outage and opened the breaker
            calls = len(fake.calls)
            second = wait_for(client, upload(client, user).json()["id"])  # type: ignore[attr-defined]
            assert second["status"] == "succeeded"  # made by the local filter
            assert len(fake.calls) == calls
            assert client.get("/api/v1/me").json()["balance"] == 2
    services.database.dispose()
