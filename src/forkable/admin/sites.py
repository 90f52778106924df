"""The operator's view: every site of the server, its health and today's numbers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from forkable.admin.dashboard import Day, Totals, dashboards
from forkable.db import Database
from forkable.monitoring.models import AlertState
from forkable.providers.breaker import BreakerState
from forkable.providers.guarded import GuardedProvider
from forkable.providers.resolver import ProviderResolver, UnavailableProvider
from forkable.sites import Site, SiteRegistry


@dataclass(frozen=True)
class Health:
    status: str  # ok, degraded, paused, down
    detail: str


@dataclass(frozen=True)
class SiteOverview:
    site: Site
    health: Health
    day: Day  # today's numbers
    today: Totals  # the same, with rates and margin
    alerts_firing: int

    @property
    def id(self) -> str:
        return self.site.id


def provider_health(resolver: ProviderResolver, site: Site, spent_today_usd: float) -> Health:
    """Can the site make images right now, and with what?"""
    choice = resolver.for_site(site)
    provider = choice.provider
    cap = site.manifest.limits.daily_spend_cap_usd
    if isinstance(provider, UnavailableProvider):
        return Health("down", f"{provider.name}: {provider.detail}")
    if spent_today_usd >= cap:  # the same test that pauses new images
        return Health("paused", f"daily spend cap of ${cap:,.2f} reached")
    if isinstance(provider, GuardedProvider) and provider.breaker.state is not BreakerState.CLOSED:
        fallback = " (the local filter stands in)" if provider.fallback else ""
        return Health("degraded", f"{provider.name}: circuit {provider.breaker.state}{fallback}")
    if choice.offline_preview:
        return Health("ok", "offline preview: the local filter makes the images")
    return Health("ok", f"{provider.name} answering")


def _firing_alerts(database: Database, site_ids: list[str]) -> dict[str, int]:
    with database.session() as session:
        rows = session.execute(
            select(AlertState.site_id, func.count())
            .where(AlertState.site_id.in_(site_ids), AlertState.state == "firing")
            .group_by(AlertState.site_id)
        )
        return {site_id: int(count) for site_id, count in rows if site_id}


def overview(
    database: Database, registry: SiteRegistry, resolver: ProviderResolver
) -> list[SiteOverview]:
    """Each served site with its provider health, firing alerts and today's numbers."""
    sites = sorted(registry, key=lambda s: s.id)
    currencies = {site.id: site.manifest.pricing.currency for site in sites}
    today = dashboards(database, currencies, days=1)
    alerts = _firing_alerts(database, list(currencies))
    result = []
    for site in sites:
        board = today[site.id]
        result.append(
            SiteOverview(
                site=site,
                health=provider_health(resolver, site, board.totals.cost_usd),
                day=board.days[-1],
                today=board.totals,
                alerts_firing=alerts.get(site.id, 0),
            )
        )
    return result
