"""Anonymous pages from memory: the same bytes, ETag and 304, a new version on a manifest change,
and signed-in visitors who always get their own page."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.factories import sign_up

from forkable.providers.catalog import build_catalog
from forkable.sites import SiteRegistry
from forkable.sites_watch import SiteWatcher
from forkable.web.auth import cookie_name

PUBLIC_PAGES = ("/", "/terms", "/privacy")
PUBLIC = "public, max-age=0, s-maxage=60, stale-while-revalidate=600"


def _assert_security_headers(headers: httpx.Headers) -> None:
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "nonce-" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_anonymous_page_is_the_same_bytes_with_a_strong_etag(client: TestClient, path: str) -> None:
    first, second = client.get(path), client.get(path)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    etag = first.headers["etag"]
    assert etag == second.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == PUBLIC
    assert first.headers["vary"] == "Cookie, Authorization"
    assert first.headers["content-type"] == "text/html; charset=utf-8"
    assert "ColoringBook AI" in first.text
    assert 'name="csrf-token"' not in first.text
    _assert_security_headers(first.headers)


def test_each_page_has_its_own_etag(client: TestClient) -> None:
    etags = {client.get(path).headers["etag"] for path in PUBLIC_PAGES}
    assert len(etags) == len(PUBLIC_PAGES)


def test_if_none_match_gives_a_bodiless_304(client: TestClient) -> None:
    etag = client.get("/").headers["etag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/", headers={"if-none-match": sent})
        assert response.status_code == 304, sent
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == PUBLIC
        _assert_security_headers(response.headers)
    stale = client.get("/", headers={"if-none-match": '"not-this-one"'})
    assert stale.status_code == 200 and stale.headers["etag"] == etag


def test_a_manifest_change_gives_new_content_and_a_new_etag(
    client: TestClient, registry: SiteRegistry, sites_dir: Path
) -> None:
    before = client.get("/")
    terms_before = client.get("/terms")
    watcher = SiteWatcher(sites_dir, registry, build_catalog())
    manifest = sites_dir / "coloringbook" / "site.toml"
    manifest.write_text(
        manifest.read_text().replace('name = "ColoringBook AI"', 'name = "Coloring Corner"')
    )
    assert watcher.scan().changed == ["coloringbook"]

    after = client.get("/")
    assert after.status_code == 200
    assert "<h1>Coloring Corner</h1>" in after.text and "ColoringBook AI" not in after.text
    assert after.headers["etag"] != before.headers["etag"]
    # The old ETag no longer matches: a cache revalidating gets the new page.
    revalidated = client.get("/", headers={"if-none-match": before.headers["etag"]})
    assert revalidated.status_code == 200 and revalidated.content == after.content
    assert client.get("/terms").headers["etag"] != terms_before.headers["etag"]


def test_a_reload_without_a_change_keeps_the_etag(
    client: TestClient, registry: SiteRegistry, sites_dir: Path
) -> None:
    before = client.get("/")
    watcher = SiteWatcher(sites_dir, registry, build_catalog())
    manifest = sites_dir / "coloringbook" / "site.toml"
    manifest.write_text(manifest.read_text() + "\n")  # a new file, the same manifest
    assert watcher.scan().changed == ["coloringbook"]
    after = client.get("/")
    assert after.headers["etag"] == before.headers["etag"]
    assert after.content == before.content


def test_signed_in_visitors_get_their_own_page_never_the_cached_one(client: TestClient) -> None:
    anonymous = client.get("/")
    sign_up(client)
    for path in PUBLIC_PAGES:
        # Even when the browser offers the anonymous page's ETag.
        response = client.get(path, headers={"if-none-match": anonymous.headers["etag"]})
        assert response.status_code == 200, path
        assert 'name="csrf-token"' in response.text, path
        assert "3 tokens" in response.text and "Log out" in response.text, path
        assert response.headers["cache-control"] == "private, no-store", path
        assert "etag" not in response.headers, path
        assert response.headers["vary"] == "Cookie, Authorization"
        _assert_security_headers(response.headers)
    # And the cache was not filled with their page: a new anonymous visitor gets the same bytes.
    client.cookies.clear()
    assert client.get("/").content == anonymous.content


def test_a_stale_session_cookie_gets_the_anonymous_page(client: TestClient) -> None:
    anonymous = client.get("/")
    name = cookie_name(client.app.state.services.settings)  # type: ignore[attr-defined]
    client.cookies.set(name, "no-such-session")
    response = client.get("/")
    assert response.status_code == 200
    assert response.content == anonymous.content
    assert response.headers["etag"] == anonymous.headers["etag"]
    assert response.headers["cache-control"] == PUBLIC


def test_a_bad_api_key_is_still_refused(client: TestClient) -> None:
    response = client.get("/", headers={"authorization": "Bearer nope"})
    assert response.status_code == 401


def test_each_site_has_its_own_pages(client: TestClient) -> None:
    coloring = client.get("/", headers={"host": "coloringbook.localhost"})
    sketch = client.get("/", headers={"host": "pencilsketch.localhost"})
    assert "ColoringBook AI" in coloring.text and "SketchMe" in sketch.text
    assert coloring.headers["etag"] != sketch.headers["etag"]


def test_anonymous_pages_pass_every_outer_layer_and_are_counted_by_path(
    client: TestClient,
) -> None:
    # Answered from memory before FastAPI's router, still inside instrumentation, site
    # routing and the security headers.
    response = client.get("/terms")
    assert response.status_code == 200
    assert response.headers["x-request-id"]
    _assert_security_headers(response.headers)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200, metrics.text
    assert 'route="/terms",status="200"' in metrics.text.replace(" ", "")
    unknown = client.get("/", headers={"host": "nosuchsite.localhost"})
    assert unknown.status_code == 404  # no site, no page: routing answered first
