"""`forkable worker`: load sites, wait for the schema, run the queue worker."""

from __future__ import annotations

import logging
from pathlib import Path

from forkable.allocator import RELEASE_EVERY_SECONDS, release_free_memory, tune_allocator
from forkable.app import build_worker
from forkable.asgi import default_sites_path, open_registry
from forkable.cli.output import fail
from forkable.cli.serve import prepare_shared_database
from forkable.db import Database
from forkable.db.sync import sync_sites
from forkable.observability.logs import configure_logging
from forkable.observability.metrics_server import MetricsServer
from forkable.periodic import Periodic
from forkable.settings import check_production, load_settings, shared_limits_problem
from forkable.workers.engine import QueueNeedsPostgres

logger = logging.getLogger("forkable.worker")


def run_worker(
    path: Path | None,
    *,
    concurrency: int,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> None:
    tune_allocator()  # before any thread starts: jobs decode and filter images here
    settings = load_settings()
    check_production(settings)
    problem = shared_limits_problem(settings, more_than_one_process=True)
    if problem is not None:
        fail(problem)
    configure_logging(settings.resolved_log_format)
    # Procrastinate logs every job it starts and ends at INFO, with its whole context; the
    # generation's row and our own lines say what happened. Its warnings and errors still show.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    sites_path = (path or settings.sites_path or default_sites_path()).resolve()
    registry = open_registry(sites_path)
    database = Database(settings.resolved_database_url)
    if database.is_sqlite:
        fail(str(QueueNeedsPostgres()))
    prepare_shared_database(database, wait_seconds=settings.schema_wait_seconds)
    sync_sites(database, registry)  # an upsert per site: safe beside other processes
    worker = build_worker(registry, settings, database=database, concurrency=concurrency)
    names = ", ".join(site.id for site in registry)
    server = None
    if metrics_port is not None and worker.metrics.enabled:
        try:
            server = MetricsServer(
                worker.metrics, host=metrics_host, port=metrics_port, token=settings.metrics_token
            )
        except OSError as exc:
            fail(f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc.strerror or exc}")
        server.start()
        logger.info("worker metrics on http://%s:%d/metrics", metrics_host, server.port)
    logger.info("worker %s: generations of %s, %d at a time", worker.owner, names, concurrency)
    releaser = Periodic("forkable-memory-release", RELEASE_EVERY_SECONDS, release_free_memory)
    releaser.start()
    try:
        worker.run()
    finally:
        releaser.stop()
        if server is not None:
            server.stop()
        worker.close()
