"""Liveness and readiness."""

from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from forkable.app import create_app
from forkable.db import Database
from forkable.settings import Settings
from forkable.sites import SiteRegistry


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_component(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["database"] == {"status": "ok"}
    assert body["components"]["storage"] == {"status": "ok"}


def test_readyz_fails_when_the_database_is_unreachable(
    registry: SiteRegistry, settings: Settings
) -> None:
    broken = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(registry, settings, database=broken, migrate=False)
    settings.data_dir.mkdir(parents=True)
    client = TestClient(app)  # no lifespan: start-up would fail on the same database
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"]["database"]["status"] == "error"
    assert body["components"]["storage"]["status"] == "ok"


def test_readyz_fails_when_the_data_dir_is_not_writable(
    client: TestClient, settings: Settings
) -> None:
    shutil.rmtree(settings.data_dir)
    settings.data_dir.write_text("a file where the data dir should be")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["components"]["storage"]["status"] == "error"
