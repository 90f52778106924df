"""Several sites in one app, routed by Host; unknown hosts get 404."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from forkable.app import create_app
from forkable.asgi import open_registry
from forkable.db import Database
from forkable.db.base import SiteRow
from forkable.settings import Settings


def get(app: FastAPI, host: str, path: str = "/") -> tuple[int, str]:
    with TestClient(app) as client:
        response = client.get(path, headers={"host": host})
        return response.status_code, response.text


def test_each_site_answers_on_its_domain_and_localhost_name(app: FastAPI) -> None:
    with TestClient(app) as client:
        for host, name in [
            ("coloringbook.example.com", "ColoringBook AI"),
            ("coloringbook.localhost:8000", "ColoringBook AI"),
            ("sketchme.example.com", "SketchMe"),
            ("pencilsketch.localhost", "SketchMe"),
            ("TOONYOU.example.com.", "ToonYou"),
        ]:
            response = client.get("/", headers={"host": host})
            assert response.status_code == 200, host
            assert f"<h1>{name}</h1>" in response.text


def test_unknown_host_is_404_but_health_answers(app: FastAPI) -> None:
    with TestClient(app) as client:
        for path in ("/", "/terms", "/assets/logo.svg", "/api/v1/me"):
            response = client.get(path, headers={"host": "nobody.example.org"})
            assert response.status_code == 404, path
        api = client.get("/api/v1/packs", headers={"host": "nobody.example.org"})
        assert api.json()["error"]["code"] == "unknown_host"
        for path in ("/healthz", "/readyz"):
            assert client.get(path, headers={"host": "10.0.0.7:8000"}).status_code == 200


def test_single_site_server_answers_every_host(sites_dir: Path, settings: Settings) -> None:
    app = create_app(open_registry(sites_dir / "pencilsketch"), settings, migrate=True)
    status, text = get(app, "203.0.113.9:8000")
    assert status == 200
    assert "<h1>SketchMe</h1>" in text


def test_data_is_kept_per_site(app: FastAPI, settings: Settings) -> None:
    with TestClient(app):
        pass  # the lifespan registers the served sites
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            rows = {row.id: row.domain for row in session.scalars(select(SiteRow))}
    finally:
        database.dispose()
    assert rows == {
        "coloringbook": "coloringbook.example.com",
        "pencilsketch": "sketchme.example.com",
        "cartoonavatar": "toonyou.example.com",
    }


def test_site_assets_do_not_leak_across_sites_or_folders(app: FastAPI) -> None:
    with TestClient(app) as client:
        ok = client.get("/assets/logo.svg", headers={"host": "coloringbook.localhost"})
        assert ok.status_code == 200
        assert ok.headers["content-type"] == "image/svg+xml"
        assert "ColoringBook AI logo" in ok.text
        other = client.get("/assets/logo.svg", headers={"host": "cartoonavatar.localhost"})
        assert "ToonYou logo" in other.text
        for path in ("/assets/../site.toml", "/assets/%2e%2e/site.toml", "/assets/nothing.png"):
            response = client.get(path, headers={"host": "coloringbook.localhost"})
            assert response.status_code == 404, path
