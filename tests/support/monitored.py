"""The `monitored` fixture: an app watched by metrics, with Gemini faked on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.support.journey import Monitored

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.asgi import open_registry
from forkable.generations.runner import RunnerConfig
from forkable.observability.metrics import Metrics
from forkable.providers.resolver import ProviderResolver
from forkable.settings import Settings
from forkable.testing.fake_gemini import FakeGemini


@pytest.fixture
def monitored(
    sites_dir: Path, settings_factory: Callable[..., Settings], tmp_path: Path
) -> Iterator[Monitored]:
    registry = open_registry(sites_dir / "coloringbook")
    with FakeGemini() as fake:
        settings = settings_factory(
            database_url=f"sqlite:///{tmp_path / 'monitored.sqlite3'}",
            gemini_api_key="test-gemini-key",
            gemini_base_url=fake.url,
            stripe_webhook_secret="whsec_test",
        )
        metrics = Metrics()
        services = build_services(
            registry,
            settings,
            passwords=fast_passwords(),
            resolver=ProviderResolver(settings, metrics=metrics),
            runner_config=RunnerConfig(workers=1, lease_seconds=10, poll_seconds=0.05),
            metrics=metrics,
        )
        app = create_app(registry, settings, services=services, migrate=True)
        with TestClient(app, base_url="http://coloringbook.localhost") as client:
            yield Monitored(client, services, fake)
        services.database.dispose()
