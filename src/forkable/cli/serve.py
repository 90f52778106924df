"""`forkable serve`: load sites, prepare the database, run uvicorn."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import uvicorn

from forkable.allocator import tune_allocator
from forkable.app import create_app
from forkable.asgi import default_sites_path, open_registry, serving
from forkable.cli.output import fail
from forkable.db import Database
from forkable.db.migrate import upgrade, wait_until_up_to_date
from forkable.observability.logs import configure_logging
from forkable.observability.metrics import fresh_multiprocess_dir
from forkable.settings import check_production, load_settings, shared_limits_problem
from forkable.workers.engine import QueueNeedsPostgres

logger = logging.getLogger("forkable.serve")


def prepare_shared_database(database: Database, *, wait_seconds: float) -> None:
    """Wait for the schema that `forkable db upgrade` applies; fail in one line if it never
    comes. Safe in any number of processes starting at once (it only reads)."""
    if not wait_until_up_to_date(database, timeout=wait_seconds):
        fail("the database schema is out of date: run `forkable db upgrade` first")


def run_server(
    path: Path | None, *, host: str, port: int, workers: int, no_jobs: bool = False
) -> None:
    tune_allocator()  # before any thread starts (worker processes do it as their apps start)
    if no_jobs:
        # Read by the settings of this process and of uvicorn's worker processes.
        os.environ["FORKABLE_NO_JOBS"] = "1"
    settings = load_settings()
    check_production(settings)
    problem = shared_limits_problem(settings, more_than_one_process=workers > 1 or settings.no_jobs)
    if problem is not None:
        fail(problem)
    configure_logging(settings.resolved_log_format)
    sites_path = (path or settings.sites_path or default_sites_path()).resolve()
    registry = open_registry(sites_path)  # fail fast, before any worker starts

    # Migrate once here, before workers exist, so they never race on the schema.
    database = Database(settings.resolved_database_url)
    try:
        if database.is_sqlite:
            if settings.no_jobs:
                fail(str(QueueNeedsPostgres()))
            upgrade(database)
        else:
            prepare_shared_database(database, wait_seconds=settings.schema_wait_seconds)
    finally:
        database.dispose()

    # uvicorn believes X-Forwarded-For/-Proto from exactly the peers the app does (left to
    # itself it reads FORWARDED_ALLOW_IPS, or trusts 127.0.0.1).
    proxies = list(settings.trusted_proxies)
    names = ", ".join(site.id for site in registry)
    logger.info("serving %s on http://%s:%d", names, host, port)
    if workers == 1:
        app = serving(create_app(registry, settings, migrate=False))
        # Our logging (JSON or text) takes uvicorn's lines too; our middleware logs requests.
        uvicorn.run(
            app,
            host=host,
            port=port,
            proxy_headers=True,
            forwarded_allow_ips=proxies,
            log_level="info",
            log_config=None,
            access_log=False,
        )
        return
    # Worker processes build their own app from the environment; hand them the sites path.
    os.environ["FORKABLE_SITES"] = str(sites_path)
    if settings.metrics_enabled and settings.metrics_multiproc_dir is None:
        # Workers keep their metrics in files there (read before prometheus-client loads).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_multiprocess_dir(settings.data_dir))
    uvicorn.run(
        "forkable.asgi:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=proxies,
        log_level="info",
        log_config=None,
        access_log=False,
    )
