"""Gauges computed from the database when `/metrics` is scraped.

Queue depth, the oldest queued job and open holds are facts about the database, not about one
worker: kept as gauges in each worker they would disagree. So the process that answers a
scrape computes them with two small grouped queries on the queue index (status, created_at),
and adds the readiness checks and what each site's manifest says.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from forkable import __version__
from forkable.db.types import utcnow
from forkable.generations.models import Generation, HoldState, Status
from forkable.observability.readiness import core_components
from forkable.services import Services

logger = logging.getLogger(__name__)

_ACTIVE = (Status.QUEUED, Status.RUNNING)


def scrape_gauges(services: Services) -> list[Metric]:
    """The per-scrape gauges; the database ones are left out while the database is down."""
    sites = sorted(site.id for site in services.sites)
    for site in services.sites:
        services.metrics.warm(site.id, site.manifest.pricing.currency)
    components = core_components(
        services.database, services.settings.data_dir, services.store.check
    )
    ready = GaugeMetricFamily(
        "forkable_ready",
        "1 when a /readyz component answers, 0 when it fails.",
        labels=["component"],
    )
    for name, component in sorted(components.items()):
        ready.add_metric([name], 1.0 if component["status"] == "ok" else 0.0)
    build = GaugeMetricFamily(
        "forkable_build_info", "The running release and environment.", labels=["version", "env"]
    )
    build.add_metric([__version__, services.settings.env], 1.0)
    cap = GaugeMetricFamily(
        "forkable_site_daily_spend_cap_usd",
        "A site's daily provider budget (limits.daily_spend_cap_usd).",
        labels=["site"],
    )
    for site in services.sites:
        cap.add_metric([site.id], float(site.manifest.limits.daily_spend_cap_usd))
    families: list[Metric] = [ready, build, cap]
    if components["database"]["status"] == "ok":
        try:
            families.extend(_queue_gauges(services, sites))
        except Exception:
            # A scrape must still answer (with readiness) when a query fails.
            logger.exception("metrics: the queue gauges could not be computed")
    return families


def _queue_gauges(services: Services, sites: list[str]) -> list[Metric]:
    now = utcnow()
    queued: dict[str, float] = dict.fromkeys(sites, 0.0)
    running: dict[str, float] = dict.fromkeys(sites, 0.0)
    oldest: dict[str, float] = dict.fromkeys(sites, 0.0)
    holds: dict[str, float] = defaultdict(float, dict.fromkeys(sites, 0.0))
    held: dict[str, float] = defaultdict(float, dict.fromkeys(sites, 0.0))
    with services.database.session() as session:
        rows = session.execute(
            select(
                Generation.site_id,
                Generation.status,
                func.count(),
                func.min(Generation.created_at),
            )
            .where(Generation.status.in_(_ACTIVE), Generation.deleted_at.is_(None))
            .group_by(Generation.site_id, Generation.status)
        ).all()
        hold_rows = session.execute(
            select(Generation.site_id, func.count(), func.coalesce(func.sum(Generation.cost), 0))
            .where(Generation.status.in_(_ACTIVE), Generation.hold_state == HoldState.OPEN)
            .group_by(Generation.site_id)
        ).all()
    for site_id, status, count, first in rows:
        if status == Status.QUEUED:
            queued[site_id] = float(count)
            if first is not None:
                oldest[site_id] = max(0.0, (now - first).total_seconds())
        else:
            running[site_id] = float(count)
    for site_id, count, tokens in hold_rows:
        holds[site_id] += float(count)
        held[site_id] += float(tokens)
    return [
        _by_site("forkable_job_queue_depth", "Generations waiting for a worker.", queued),
        _by_site("forkable_jobs_running", "Generations a worker is making now.", running),
        _by_site(
            "forkable_job_queue_oldest_age_seconds",
            "How long the oldest queued generation has waited (0 when none waits).",
            oldest,
        ),
        _by_site("forkable_open_holds", "Token holds not yet captured or voided.", holds),
        _by_site("forkable_held_tokens", "Tokens reserved by open holds.", held),
    ]


def _by_site(name: str, documentation: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["site"])
    for site_id, value in sorted(values.items()):
        family.add_metric([site_id], value)
    return family
