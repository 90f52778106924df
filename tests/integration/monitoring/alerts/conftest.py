"""Fixtures for alert tests: a migrated database with the example sites, an evaluator builder."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from tests.support.alerting import Clock, KeptChannel

from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.monitoring.alerts.channels import Channel
from forkable.monitoring.alerts.evaluator import Evaluator
from forkable.monitoring.alerts.process import SignalSource
from forkable.monitoring.alerts.rule import Rule
from forkable.providers.resolver import ProviderResolver
from forkable.services import Services

BuildEvaluator = Callable[..., Evaluator]


@pytest.fixture
def ready(services: Services) -> Services:
    """Services on a migrated database that knows every example site."""
    upgrade(services.database)
    sync_sites(services.database, services.sites)
    services.settings.data_dir.mkdir(parents=True, exist_ok=True)
    return services


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kept() -> KeptChannel:
    return KeptChannel()


@pytest.fixture
def build_evaluator(ready: Services, clock: Clock, kept: KeptChannel) -> BuildEvaluator:
    """An evaluator of the given rules on the test's services, clock and kept channel."""

    def build(
        *rules: Rule,
        channels: Sequence[Channel] | None = None,
        resolver: ProviderResolver | None = None,
        process: SignalSource | None = None,
    ) -> Evaluator:
        return Evaluator(
            rules,
            database=ready.database,
            sites=ready.sites,
            data_dir=ready.settings.data_dir,
            channels=[kept] if channels is None else channels,
            resolver=resolver,
            process=process,
            clock=clock,
            host="test-host",
        )

    return build
