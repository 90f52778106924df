"""Build the app from the environment alone: for uvicorn workers and serverless entry points."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi import FastAPI

from forkable.app import create_app
from forkable.manifest import load_sites
from forkable.manifest.loader import is_site_folder
from forkable.providers.catalog import build_catalog
from forkable.settings import load_settings
from forkable.sites import Site, SiteRegistry


def bundled_examples() -> Path:
    """The example sites shipped with the package (or beside it, in a source checkout)."""
    packaged = Path(__file__).parent / "examples"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "examples"


def default_sites_path(cwd: Path | None = None) -> Path:
    """`.` when it holds a site.toml, else the bundled coloringbook example."""
    here = cwd or Path.cwd()
    if (here / "site.toml").is_file():
        return here
    return bundled_examples() / "coloringbook"


def open_registry(path: Path) -> SiteRegistry:
    """Load a site folder (served on every host) or a folder of sites (routed by host)."""
    sources = load_sites([path], build_catalog())
    sites = [Site.from_source(source) for source in sources]
    single = is_site_folder(path)
    return SiteRegistry(sites, multi_site=not single, root=None if single else path.resolve())


def app_from_environment() -> FastAPI:
    """The app for `FORKABLE_SITES` (or the default site) with settings from the environment."""
    settings = load_settings()
    registry = open_registry(settings.sites_path or default_sites_path())
    return serving(create_app(registry, settings))


def serving(app: FastAPI) -> FastAPI:
    """The app a serving process runs until it ends, its start-up objects frozen.

    What start-up made (modules, the app, its routes and templates: about 180,000 objects)
    lives as long as the process. Frozen out of the garbage collector's reach, a full
    collection has little left to scan (it took 60 ms), so no request waits for one. Only
    for a process that serves one app for its life: a test process building app after app
    would keep them all.
    """
    gc.freeze()
    return app
