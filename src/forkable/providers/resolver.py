"""Which provider serves a site: its manifest's choice, guarded, or its offline fallback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from forkable.observability.metrics import Metrics
from forkable.providers.base import (
    DOWN,
    Provider,
    ProviderError,
    TransformRequest,
    TransformResult,
    close_provider,
)
from forkable.providers.breaker import BreakerState, CircuitBreaker
from forkable.providers.filter_provider import LocalFilterProvider
from forkable.providers.guarded import GuardedProvider
from forkable.providers.prices import PriceTable
from forkable.settings import Settings
from forkable.sites import Site

ENTRY_POINT_GROUP = "forkable.providers"
# A plugin's entry point names a callable that builds its provider for one site.
ProviderFactory = Callable[[Site, Settings], Provider]


@dataclass(frozen=True)
class Choice:
    provider: Provider
    offline_preview: bool  # the site's model is not reachable here; its local filter stands in


class UnavailableProvider:
    """A provider that cannot run in this installation: every call fails, refunding the hold."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        self.detail = detail

    def transform(self, request: TransformRequest) -> TransformResult:
        raise ProviderError(DOWN, self.detail)


def installed_plugins() -> dict[str, ProviderFactory]:
    """Provider factories registered by installed packages under `forkable.providers`."""
    found: dict[str, ProviderFactory] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        found[entry_point.name] = entry_point.load()
    return found


class ProviderResolver:
    """Maps a site to its provider; keeps one breaker per provider and model per process."""

    def __init__(
        self,
        settings: Settings,
        *,
        prices: PriceTable | None = None,
        plugins: Mapping[str, ProviderFactory] | None = None,
        breaker_factory: Callable[[], CircuitBreaker] = CircuitBreaker,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics(enabled=False)
        self.prices = prices or PriceTable.load(settings.price_table)
        self._plugins = dict(plugins) if plugins is not None else None
        self._breaker_factory = breaker_factory
        self._breakers: dict[str, CircuitBreaker] = {}
        self._choices: dict[str, tuple[object, Choice]] = {}
        self._lock = threading.Lock()

    def plugins(self) -> dict[str, ProviderFactory]:
        if self._plugins is None:
            self._plugins = installed_plugins()
        return self._plugins

    def for_site(self, site: Site) -> Choice:
        """The provider for ``site``, built once per manifest and reused."""
        with self._lock:
            cached = self._choices.get(site.id)
            if cached is not None and cached[0] == site.manifest:
                return cached[1]
            choice = self._build(site)
            self._choices[site.id] = (site.manifest, choice)
            return choice

    def estimated_cost_usd(self, site: Site) -> float:
        """What one generation of ``site`` is expected to cost its provider, for spend caps.

        The local filters are free; any other provider is priced by the site's model in the
        price table (its default for models it does not list), even while a local filter
        stands in for it, so the estimate never undercounts.
        """
        if site.manifest.transform.provider == "local":
            return 0.0
        return self.prices.for_model(site.manifest.transform.model).estimate()

    def close(self) -> None:
        """Release every provider built so far (at shutdown, once no job is running).

        A provider replaced by a changed manifest is not closed then: a job may still be
        using it; it is released when it is collected.
        """
        with self._lock:
            choices, self._choices = list(self._choices.values()), {}
        for _manifest, choice in choices:
            close_provider(choice.provider)

    def breaker(self, key: str) -> CircuitBreaker:
        if key not in self._breakers:
            self._breakers[key] = self._breaker_factory()
        return self._breakers[key]

    def degraded(self) -> list[str]:
        """Providers whose breaker is not closed, for /readyz and alerts."""
        with self._lock:
            return sorted(
                k for k, b in self._breakers.items() if b.state is not BreakerState.CLOSED
            )

    def _build(self, site: Site) -> Choice:
        transform = site.manifest.transform
        local_name = transform.local_filter
        local = LocalFilterProvider(local_name, transform.params) if local_name else None
        if transform.provider == "local":
            if local is None:
                return Choice(UnavailableProvider("local", "no local filter named"), False)
            return Choice(local, offline_preview=False)
        if transform.provider == "gemini":
            if not self.settings.gemini_api_key:
                if local is not None and not self.settings.is_production:
                    return Choice(local, offline_preview=True)
                return Choice(UnavailableProvider("gemini", "no GEMINI_API_KEY configured"), False)
            # Imported here: the SDK costs ~15 MB and start-up time that offline sites never need.
            from forkable.providers.gemini import GeminiProvider

            inner: Provider = GeminiProvider(
                api_key=self.settings.gemini_api_key,
                model=transform.model,
                base_url=self.settings.gemini_base_url,
                prices=self.prices,
                metrics=self.metrics,
            )
        else:
            factory = self.plugins().get(transform.provider)
            if factory is None:
                detail = f"provider {transform.provider!r} is not installed"
                return Choice(UnavailableProvider(transform.provider, detail), False)
            inner = factory(site, self.settings)
        circuit = f"{inner.name}:{transform.model}"
        fallback = local if transform.fallback_when_down else None
        guarded = GuardedProvider(
            inner, self.breaker(circuit), fallback, metrics=self.metrics, circuit=circuit
        )
        return Choice(guarded, offline_preview=False)
