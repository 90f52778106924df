"""Shared fixtures: databases on both engines, sites, apps, and service checks."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.asgi import open_registry
from forkable.generations.runner import RunnerConfig
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import SiteRegistry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
POSTGRES_ADMIN_URL = os.environ.get(
    "FORKABLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_TEST_URL = os.environ.get("FORKABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# pytest-xdist names its processes gw0, gw1, ...; each counts its rate limits in its own
# Redis database (15, 14, ...) so that parallel tests never share a window.
XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
CHROMIUM = os.environ.get("FORKABLE_TEST_CHROMIUM", "/usr/bin/chromium")


def services_required() -> bool:
    return os.environ.get("FORKABLE_REQUIRE_SERVICES") == "1"


def missing_service(reason: str) -> None:
    """Skip with a one-line reason, or fail when CI says services must be there."""
    if services_required():
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        missing_service(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}")
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"forkable_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite file and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'forkable.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def redis_url() -> str:
    if not _port_open("127.0.0.1", 6379):
        missing_service("Redis not reachable at 127.0.0.1:6379")
    base, database = REDIS_TEST_URL.rsplit("/", 1)
    return f"{base}/{int(database) - XDIST_WORKER}"


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {"data_dir": tmp_path / "var"}
        values.update(overrides)
        return Settings.model_validate(values)

    return build


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], database_url: str) -> Settings:
    return settings_factory(database_url=database_url)


@pytest.fixture
def sites_dir(tmp_path: Path) -> Path:
    """A folder of sites: copies of every example, free to change."""
    target = tmp_path / "sites"
    target.mkdir()
    for example in sorted(EXAMPLES.iterdir()):
        if (example / "site.toml").is_file():
            shutil.copytree(example, target / example.name)
    return target


@pytest.fixture
def registry(sites_dir: Path) -> SiteRegistry:
    return open_registry(sites_dir)


@pytest.fixture
def services(registry: SiteRegistry, settings: Settings) -> Iterator[Services]:
    """The app's services with cheap password hashing and a fast job runner."""
    built = build_services(
        registry,
        settings,
        passwords=fast_passwords(),
        runner_config=RunnerConfig(workers=2, lease_seconds=5, poll_seconds=0.05),
    )
    yield built
    built.runner.stop()
    built.database.dispose()


@pytest.fixture
def app(registry: SiteRegistry, settings: Settings, services: Services) -> FastAPI:
    return create_app(registry, settings, services=services, migrate=True)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://coloringbook.localhost") as test_client:
        yield test_client
