"""Pages: branded landing per example, legal pages, error pages, security headers."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forkable.app import create_app
from forkable.settings import Settings
from forkable.sites import SiteRegistry

EXAMPLES = {
    "coloringbook": ("ColoringBook AI", "#ff6b6b", "#1a535c", "$4.99"),
    "pencilsketch": ("SketchMe", "#c08a3e", "#2f2a26", "€3.99"),
    "cartoonavatar": ("ToonYou", "#ffd23f", "#3a0ca3", "$5.99"),
}


@pytest.mark.parametrize("site_id", sorted(EXAMPLES))
def test_landing_page_shows_the_sites_own_brand(app: FastAPI, site_id: str) -> None:
    name, primary, accent, first_price = EXAMPLES[site_id]
    host = {"host": f"{site_id}.localhost"}
    with TestClient(app) as client:
        page = client.get("/", headers=host)
        css = client.get("/brand.css", headers=host)
    assert page.status_code == 200
    assert f"<h1>{name}</h1>" in page.text
    assert f"<title>{name} — " in page.text
    assert first_price in page.text
    assert 'href="/brand.css"' in page.text
    assert f"--brand-primary: {primary};" in css.text
    assert f"--brand-accent: {accent};" in css.text
    for other_id, (other_name, *_rest) in EXAMPLES.items():
        if other_id != site_id:
            assert other_name not in page.text
    # every image has alt text, and the before/after examples are there
    images = re.findall(r"<img [^>]*>", page.text)
    assert images and all(" alt=" in tag for tag in images)
    assert "-before." in page.text and "-after." in page.text


def test_example_images_are_served(client: TestClient) -> None:
    page = client.get("/").text
    for path in re.findall(r'src="(/assets/examples/[^"]+)"', page):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] in ("image/jpeg", "image/png")


def test_terms_and_privacy_come_from_legal(client: TestClient) -> None:
    terms = client.get("/terms")
    privacy = client.get("/privacy")
    assert terms.status_code == privacy.status_code == 200
    assert "Example Ltd" in terms.text and "hello@example.com" in terms.text
    assert "Example Ltd" in privacy.text


def test_branded_404_page(client: TestClient) -> None:
    response = client.get("/no/such/page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert "We could not find that page" in response.text
    assert "ColoringBook AI" in response.text


def test_api_404_is_json(client: TestClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_branded_500_page(registry: SiteRegistry, settings: Settings) -> None:
    app = create_app(registry, settings, migrate=True)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaboom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            "/boom", headers={"host": "coloringbook.localhost", "accept": "text/html"}
        )
    assert response.status_code == 500
    assert "ColoringBook AI" in response.text
    assert "kaboom" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in ("/", "/healthz", "/static/forkable.css", "/assets/logo.svg", "/missing"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in headers


def test_hsts_in_production(registry: SiteRegistry, settings: Settings) -> None:
    production = settings.model_copy(
        update={
            "env": "production",
            "payments": "stripe",
            "stripe_secret_key": "sk_test_x",
            "stripe_webhook_secret": "whsec_x",
            "metrics_token": "m" * 32,
            "gemini_api_key": "k",
            "smtp_url": "smtp://127.0.0.1:25",
        }
    )
    app = create_app(registry, production, migrate=True)
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_no_external_urls_in_pages(client: TestClient) -> None:
    for path in ("/", "/terms", "/privacy"):
        text = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', text), path


def test_api_docs_are_served_without_a_cdn(client: TestClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    for fragment in (
        "POST /api/v1/generations",
        "GET /api/v1/me",
        "POST /api/v1/checkout",
        "Authorization: Bearer",
    ):
        assert fragment in response.text
    assert not re.search(r'(src|href)="(https?:)?//', response.text)
    assert client.get("/api/openapi.json").json()["paths"]["/api/v1/generations"]["post"]


def test_signed_in_visitors_see_their_header_on_every_page(client: TestClient) -> None:
    from tests.factories import sign_up

    sign_up(client)
    for path in ("/", "/terms", "/privacy", "/buy", "/app", "/account"):
        text = client.get(path).text
        assert 'name="csrf-token"' in text, path
        assert "3 tokens" in text, path
