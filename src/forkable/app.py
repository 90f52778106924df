"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from forkable import __version__
from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.services import Services
from forkable.settings import Settings, check_production
from forkable.sites import Site, SiteRegistry
from forkable.web import health, pages
from forkable.web.errors import install_error_handlers
from forkable.web.middleware import SecurityHeadersMiddleware, SiteRoutingMiddleware
from forkable.web.templating import build_templates

STATIC_DIR = Path(__file__).parent / "web" / "static"


def create_app(
    sites: SiteRegistry | Iterable[Site],
    settings: Settings,
    *,
    database: Database | None = None,
    migrate: bool | None = None,
) -> FastAPI:
    """Build the app for ``sites``; nothing is read from the environment here.

    ``migrate`` applies pending migrations at start-up; by default only for the embedded
    SQLite (a shared PostgreSQL is upgraded deliberately with `forkable db upgrade`).
    """
    check_production(settings)
    registry = sites if isinstance(sites, SiteRegistry) else SiteRegistry(sites)
    database = database or Database(settings.resolved_database_url)
    services = Services(settings=settings, database=database, sites=registry)
    should_migrate = database.is_sqlite if migrate is None else migrate

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if should_migrate:
            upgrade(database)
        sync_sites(database, registry)
        try:
            yield
        finally:
            database.dispose()

    app = FastAPI(
        title="forkable",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.templates = build_templates()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Outermost first: routing must see every request, headers must cover every response.
    app.add_middleware(SiteRoutingMiddleware, registry=registry)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_production)
    return app
