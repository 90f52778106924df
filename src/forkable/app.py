"""The ASGI application factory."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from forkable import __version__
from forkable.accounts.passwords import Passwords
from forkable.allocator import RELEASE_EVERY_SECONDS, release_free_memory, tune_allocator
from forkable.db import Database, events
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations import service as generation_service
from forkable.generations.announce import Announcer
from forkable.generations.runner import JobRunner, RunnerConfig, Wakeup
from forkable.generations.status_channel import StatusListener, announce_status_changes
from forkable.generations.waits import StatusWaits, WaitLimits
from forkable.generations.work import JobWork
from forkable.mail.setup import mail_delivery
from forkable.observability.access_log import AccessLog
from forkable.observability.logs import configure_logging
from forkable.observability.metrics import Metrics
from forkable.observability.sentry import init_sentry
from forkable.payments.accounts import StripeAccounts, stripe_accounts
from forkable.payments.receipts import send_receipts
from forkable.periodic import Periodic
from forkable.providers.catalog import build_catalog
from forkable.providers.resolver import ProviderResolver
from forkable.ratelimit import RateLimiter
from forkable.services import Services
from forkable.settings import Settings, SettingsError, check_production, site_payment_problems
from forkable.sites import Site, SiteRegistry
from forkable.sites_watch import SiteWatcher
from forkable.storage import open_store
from forkable.web import account_pages, api_docs, health, pages, payment_pages
from forkable.web.admin_actions import router as admin_actions_router
from forkable.web.admin_pages import router as admin_pages_router
from forkable.web.api import api_router
from forkable.web.body_limits import BodyLimitMiddleware
from forkable.web.client_ip import ForwardedClientMiddleware, TrustedProxies
from forkable.web.errors import install_error_handlers
from forkable.web.instrumentation import InstrumentationMiddleware
from forkable.web.metrics import router as metrics_router
from forkable.web.middleware import SecurityHeadersMiddleware, SiteRoutingMiddleware
from forkable.web.page_cache import AnonymousPagesMiddleware, PageCache
from forkable.web.templating import build_templates
from forkable.workers.announcer import QueueAnnouncer
from forkable.workers.engine import queue_app
from forkable.workers.maintenance import Maintenance
from forkable.workers.process import QueueWorker, WorkerConfig

if TYPE_CHECKING:
    from forkable.monitoring.alerts.runtime import AlertsRuntime

STATIC_DIR = Path(__file__).parent / "web" / "static"


def check_sites_for_production(settings: Settings, sites: Iterable[Site]) -> None:
    """Production refuses sites whose model cannot be reached (no silent offline preview) or
    whose Stripe payments could not be taken or verified."""
    if not settings.is_production:
        return
    sites = list(sites)
    problems = [
        f"site {site.id} uses the gemini provider: set GEMINI_API_KEY (or GOOGLE_API_KEY)"
        for site in sites
        if site.manifest.transform.provider == "gemini" and not settings.gemini_api_key
    ]
    problems += site_payment_problems(settings, (site.id for site in sites))
    if problems:
        raise SettingsError(problems)


def _site_watcher(
    registry: SiteRegistry, settings: Settings, database: Database
) -> SiteWatcher | None:
    """A folder of sites is watched: forks dropped into it go live without a restart."""
    if registry.root is None or settings.sites_poll_seconds <= 0:
        return None
    return SiteWatcher(
        registry.root,
        registry,
        build_catalog(),
        on_change=lambda sites: sync_sites(database, sites),
        interval=settings.sites_poll_seconds,
    )


def _alerts_runtime(services: Services) -> AlertsRuntime:
    # Imported here: apps without alerts never load the channels and rule files.
    from forkable.monitoring.alerts.runtime import AlertsRuntime

    return AlertsRuntime(services)


def payment_gateway(settings: Settings) -> StripeAccounts | None:
    """Stripe when configured for it (each site on its account); None means demo checkout."""
    return stripe_accounts(settings)


def build_services(
    registry: SiteRegistry,
    settings: Settings,
    *,
    database: Database | None = None,
    passwords: Passwords | None = None,
    resolver: ProviderResolver | None = None,
    runner_config: RunnerConfig | None = None,
    metrics: Metrics | None = None,
    wait_limits: WaitLimits | None = None,
) -> Services:
    """The services of one app; tests pass cheaper or instrumented parts."""
    database = database or Database(settings.resolved_database_url)
    metrics = metrics or Metrics(
        enabled=settings.metrics_enabled, multiprocess_dir=settings.metrics_multiproc_dir
    )
    if metrics.enabled:
        events.observe(database, metrics.record_facts)
        metrics.watch_database(database)
    send_receipts(database, registry)
    store = open_store(
        settings.media_location,
        database=database,
        environ=settings.aws_environment,
        observer=metrics.media if metrics.enabled else None,
    )
    resolver = resolver or ProviderResolver(settings, metrics=metrics)
    config = runner_config or RunnerConfig(
        workers=settings.workers, lease_seconds=settings.job_lease_seconds
    )
    wakeup = Wakeup()
    # HTTP only: the generations' messages go to the shared queue, in their submit transaction.
    announcer: Announcer = QueueAnnouncer(queue_app(database)) if settings.no_jobs else wakeup
    work = JobWork(
        database=database,
        store=store,
        sites=registry,
        resolver=resolver,
        announcer=announcer,
        policy=config.policy,
    )
    runner = JobRunner(database=database, work=work, wakeup=wakeup, config=config)
    waits = StatusWaits(functools.partial(generation_service.statuses, database), wait_limits)
    events.observe(database, waits.record_facts)
    announce_status_changes(database)
    if not database.is_sqlite and not settings.inline_jobs:
        # Jobs that other processes end reach this process's waits through PostgreSQL.
        waits.listener = StatusListener(database, waits.status_changed)
    payments = payment_gateway(settings)
    maintenance = Maintenance(
        database=database,
        store=store,
        sites=registry,
        announcer=announcer,
        max_attempts=config.max_attempts,
        payments=payments,
        mail=mail_delivery(settings, database, registry),
    )
    return Services(
        settings=settings,
        database=database,
        sites=registry,
        store=store,
        passwords=passwords or Passwords(),
        limiter=RateLimiter(
            settings.redis_url, observer=metrics.redis if metrics.enabled else None
        ),
        resolver=resolver,
        runner=runner,
        announcer=announcer,
        payments=payments,
        maintenance=maintenance,
        waits=waits,
        metrics=metrics,
    )


def build_worker(
    registry: SiteRegistry,
    settings: Settings,
    *,
    database: Database,
    concurrency: int,
    resolver: ProviderResolver | None = None,
) -> QueueWorker:
    """A `forkable worker` process's parts: the same job work as the embedded runner, with its
    messages and its sweep on the shared queue.

    Its metrics (`worker.metrics`, role "worker": the process, the database, the media store,
    the providers and the generations it finishes) are served by `forkable worker
    --metrics-port`.
    """
    metrics = Metrics(enabled=settings.metrics_enabled, role="worker")
    if metrics.enabled:
        events.observe(database, metrics.record_facts)
        metrics.watch_database(database)
    announce_status_changes(database)  # its jobs' ends wake the waits of the serving processes
    send_receipts(database, registry)
    store = open_store(
        settings.media_location,
        database=database,
        environ=settings.aws_environment,
        observer=metrics.media if metrics.enabled else None,
    )
    announcer = QueueAnnouncer(queue_app(database))
    policy = RunnerConfig().policy
    work = JobWork(
        database=database,
        store=store,
        sites=registry,
        resolver=resolver or ProviderResolver(settings, metrics=metrics),
        announcer=announcer,
        policy=policy,
    )
    maintenance = Maintenance(
        database=database,
        store=store,
        sites=registry,
        announcer=announcer,
        max_attempts=policy.max_attempts,
        payments=payment_gateway(settings),
        mail=mail_delivery(settings, database, registry),
    )
    config = WorkerConfig(concurrency=concurrency, lease_seconds=settings.job_lease_seconds)
    return QueueWorker(
        database=database, work=work, maintenance=maintenance, config=config, metrics=metrics
    )


def create_app(
    sites: SiteRegistry | Iterable[Site],
    settings: Settings,
    *,
    services: Services | None = None,
    database: Database | None = None,
    migrate: bool | None = None,
    run_jobs: bool = True,
) -> FastAPI:
    """Build the app for ``sites``; nothing is read from the environment here.

    ``migrate`` applies pending migrations at start-up; by default only for the embedded
    SQLite (a shared PostgreSQL is upgraded deliberately with `forkable db upgrade`).
    ``run_jobs`` starts the embedded job runner with the app.
    """
    check_production(settings)
    configure_logging(settings.resolved_log_format)
    registry = sites if isinstance(sites, SiteRegistry) else SiteRegistry(sites)
    check_sites_for_production(settings, registry)
    services = services or build_services(registry, settings, database=database)
    alerts = _alerts_runtime(services) if settings.alerts_active else None
    access_log = (
        AccessLog(settings.resolved_log_format)
        if settings.access_log and services.metrics.enabled
        else None
    )
    lifespan = _lifespan(
        settings,
        registry,
        services,
        migrate=services.database.is_sqlite if migrate is None else migrate,
        run_jobs=run_jobs,
        alerts=alerts,
        access_log=access_log,
    )
    init_sentry(settings)  # before the app exists: its integration wraps the app class
    app = FastAPI(
        title="forkable",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.alerts = alerts
    app.state.templates = build_templates()
    app.state.page_cache = PageCache(app.state.templates)
    install_error_handlers(app)
    _include_routes(app)
    _add_middleware(app, settings, registry, services.metrics, access_log, app.state.page_cache)
    if alerts is not None:
        alerts.install(app)
    return app


def _lifespan(
    settings: Settings,
    registry: SiteRegistry,
    services: Services,
    *,
    migrate: bool,
    run_jobs: bool,
    alerts: AlertsRuntime | None,
    access_log: AccessLog | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What starts with the app (migrations, site sync, threads) and stops with it."""
    database = services.database

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tune_allocator()  # every serving process, uvicorn's workers included
        releaser = Periodic("forkable-memory-release", RELEASE_EVERY_SECONDS, release_free_memory)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if migrate:
            upgrade(database)
        sync_sites(database, registry)
        watcher = _site_watcher(registry, settings, database)
        if watcher is not None:
            watcher.start()
        # Serverless hosts keep no process between requests: jobs run inside their request.
        # With --no-jobs, `forkable worker` processes run the jobs and the maintenance.
        upkeep = _embedded_upkeep(services)
        if run_jobs and not settings.inline_jobs and not settings.no_jobs:
            services.runner.start()
            for periodic in upkeep:
                periodic.start()
        if alerts is not None:
            alerts.start()
        if access_log is not None:
            access_log.start()
        services.metrics.start()
        releaser.start()
        try:
            yield
        finally:
            releaser.stop()
            if access_log is not None:
                access_log.close()
            if alerts is not None:
                alerts.stop()
            if watcher is not None:
                watcher.stop()
            services.waits.close()
            for periodic in upkeep:
                periodic.stop()
            services.runner.stop()
            services.resolver.close()  # the providers' pooled connections
            database.dispose()
            services.metrics.stop()

    return lifespan


# How often the embedded server runs the maintenance that workers run on the shared queue.
RETENTION_SECONDS = 3600.0
RECONCILE_SECONDS = 600.0
MAIL_SECONDS = 5.0


def _embedded_upkeep(services: Services) -> list[Periodic]:
    """Media retention hourly, mail every few seconds, and the payments reconcile in Stripe
    mode, in threads."""
    upkeep = [
        Periodic("forkable-retention", RETENTION_SECONDS, services.maintenance.expire_media),
        Periodic("forkable-mail", MAIL_SECONDS, services.maintenance.deliver_mail),
    ]
    if services.payments is not None:
        upkeep.append(
            Periodic(
                "forkable-reconcile", RECONCILE_SECONDS, services.maintenance.reconcile_payments
            )
        )
    return upkeep


def _include_routes(app: FastAPI) -> None:
    # Public pages first: routers are tried in order, and the landing page is the busiest
    # route (no path here overlaps another router's).
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(account_pages.router)
    app.include_router(payment_pages.router)
    app.include_router(admin_pages_router)
    app.include_router(admin_actions_router)
    app.include_router(api_docs.router)
    app.include_router(api_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _add_middleware(
    app: FastAPI,
    settings: Settings,
    registry: SiteRegistry,
    metrics: Metrics,
    access_log: AccessLog | None,
    page_cache: PageCache,
) -> None:
    # Added innermost first: routing must see every request, headers must cover every
    # response. Anonymous pages are answered from memory once the site is known.
    app.add_middleware(AnonymousPagesMiddleware, cache=page_cache)
    # Bodies are capped inside routing: an unknown host's 404 waits for no body.
    app.add_middleware(BodyLimitMiddleware, timeout_seconds=settings.body_timeout_seconds)
    app.add_middleware(SiteRoutingMiddleware, registry=registry)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_production)
    # Before anything reads the client's address: throttles, audit rows, logs.
    app.add_middleware(ForwardedClientMiddleware, trusted=TrustedProxies(settings.trusted_proxies))
    if metrics.enabled:
        # Outermost: every response, an unknown host's 404 too, is counted and carries its id.
        app.add_middleware(InstrumentationMiddleware, metrics=metrics, access_log=access_log)
