"""Serve sites like `forkable serve`, but with every transform slowed down.

Used by crash tests, which need a process that is reliably in the middle of a generation
when it is killed. Usage: python tests/support/slow_serve.py SITES PORT DELAY_SECONDS
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import uvicorn

from forkable.app import build_services, create_app
from forkable.asgi import open_registry
from forkable.generations.runner import RunnerConfig
from forkable.providers.base import Provider, TransformRequest, TransformResult
from forkable.providers.resolver import Choice, ProviderResolver
from forkable.settings import Settings, load_settings
from forkable.sites import Site


class SlowProvider:
    def __init__(self, inner: Provider, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.name = f"slow:{inner.name}"

    def transform(self, request: TransformRequest) -> TransformResult:
        time.sleep(self.delay)
        return self.inner.transform(request)


class SlowResolver(ProviderResolver):
    def __init__(self, settings: Settings, delay: float) -> None:
        super().__init__(settings)
        self.delay = delay

    def for_site(self, site: Site) -> Choice:
        choice = super().for_site(site)
        return Choice(SlowProvider(choice.provider, self.delay), choice.offline_preview)


def main() -> None:
    sites, port, delay = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    settings = load_settings()
    registry = open_registry(sites)
    services = build_services(
        registry,
        settings,
        resolver=SlowResolver(settings, delay),
        runner_config=RunnerConfig(workers=1, lease_seconds=settings.job_lease_seconds),
    )
    uvicorn.run(create_app(registry, settings, services=services), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
