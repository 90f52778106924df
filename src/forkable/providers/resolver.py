"""Which provider serves a site: its manifest's choice, or its offline fallback."""

from __future__ import annotations

from dataclasses import dataclass

from forkable.providers.base import DOWN, Provider, ProviderError, TransformRequest, TransformResult
from forkable.providers.filter_provider import LocalFilterProvider
from forkable.settings import Settings
from forkable.sites import Site


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


class ProviderResolver:
    """Maps a site to the provider that transforms its images."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def for_site(self, site: Site) -> Choice:
        transform = site.manifest.transform
        local = transform.local_filter
        if transform.provider == "local" and local:
            return Choice(LocalFilterProvider(local, transform.params), offline_preview=False)
        if transform.provider == "gemini" and not self.settings.gemini_api_key:
            if local and not self.settings.is_production:
                return Choice(LocalFilterProvider(local, transform.params), offline_preview=True)
            return Choice(
                UnavailableProvider("gemini", "no GEMINI_API_KEY configured"), offline_preview=False
            )
        return Choice(
            UnavailableProvider(
                transform.provider, f"provider {transform.provider!r} is not available"
            ),
            offline_preview=False,
        )
