"""A provider plugin that refuses every photo, and a resolver that always picks it."""

from __future__ import annotations

from forkable.providers.base import ProviderError, TransformRequest, TransformResult
from forkable.providers.resolver import Choice, ProviderResolver
from forkable.settings import Settings
from forkable.sites import Site


class FailingProvider:
    """A provider plugin whose service refuses everything, as a real one can."""

    name = "test:failing"

    def __init__(self, reason: str, retryable: bool = False) -> None:
        self.reason = reason
        self.retryable = retryable
        self.calls = 0

    def transform(self, request: TransformRequest) -> TransformResult:
        self.calls += 1
        raise ProviderError(self.reason, "refused by the test provider", retryable=self.retryable)


class FixedResolver(ProviderResolver):
    def __init__(self, settings: Settings, provider: FailingProvider) -> None:
        super().__init__(settings)
        self.provider = provider

    def for_site(self, site: Site) -> Choice:
        return Choice(self.provider, offline_preview=False)
