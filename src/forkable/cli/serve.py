"""`forkable serve`: load sites, prepare the database, run uvicorn."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import uvicorn

from forkable.allocator import tune_allocator
from forkable.app import create_app
from forkable.asgi import default_sites_path, open_registry
from forkable.cli.output import fail
from forkable.db import Database
from forkable.db.migrate import is_up_to_date, upgrade
from forkable.observability.logs import configure_logging
from forkable.observability.metrics import fresh_multiprocess_dir
from forkable.settings import check_production, load_settings

logger = logging.getLogger("forkable.serve")


def run_server(path: Path | None, *, host: str, port: int, workers: int) -> None:
    tune_allocator()  # before any thread starts (worker processes do it as their apps start)
    settings = load_settings()
    check_production(settings)
    configure_logging(settings.resolved_log_format)
    sites_path = (path or settings.sites_path or default_sites_path()).resolve()
    registry = open_registry(sites_path)  # fail fast, before any worker starts

    # Migrate once here, before workers exist, so they never race on the schema.
    database = Database(settings.resolved_database_url)
    try:
        if database.is_sqlite:
            upgrade(database)
        elif not is_up_to_date(database):
            fail("the database schema is out of date: run `forkable db upgrade` first")
    finally:
        database.dispose()

    # uvicorn believes X-Forwarded-For/-Proto from exactly the peers the app does (left to
    # itself it reads FORWARDED_ALLOW_IPS, or trusts 127.0.0.1).
    proxies = list(settings.trusted_proxies)
    names = ", ".join(site.id for site in registry)
    logger.info("serving %s on http://%s:%d", names, host, port)
    if workers == 1:
        app = create_app(registry, settings, migrate=False)
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
