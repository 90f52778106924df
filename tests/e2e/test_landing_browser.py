"""The landing page in a real browser: no console errors, no failed requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response
from tests.serving import Server, serve

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


def test_landing_page_loads_cleanly(page: Page, coloringbook_server: Server) -> None:
    console_errors: list[str] = []
    failed: list[str] = []
    bad_status: list[str] = []
    external: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    def on_failed(request: Request) -> None:
        failed.append(f"{request.url} {request.failure}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            bad_status.append(f"{response.status} {response.url}")

    def on_request(request: Request) -> None:
        if not request.url.startswith(coloringbook_server.url) and not request.url.startswith(
            "data:"
        ):
            external.append(request.url)

    page.on("console", on_console)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("request", on_request)
    page.goto(coloringbook_server.url + "/", wait_until="networkidle")

    assert page.title().startswith("ColoringBook AI")
    assert page.locator("h1").inner_text() == "ColoringBook AI"
    images = page.locator("img")
    assert images.count() >= 3
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0"), index
    primary = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--brand-primary').trim()"
    )
    assert primary == "#ff6b6b"
    assert console_errors == []
    assert failed == []
    assert bad_status == []
    assert external == []


def test_landing_page_fits_a_phone(page: Page, coloringbook_server: Server) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(coloringbook_server.url + "/", wait_until="networkidle")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


def test_each_site_is_painted_in_its_own_colors(page: Page, tmp_path: Path) -> None:
    with serve(ROOT / "examples" / "cartoonavatar", tmp_path / "var") as server:
        page.goto(server.url + "/", wait_until="networkidle")
        header = page.evaluate(
            "getComputedStyle(document.querySelector('.site-header')).backgroundColor"
        )
        button = page.evaluate(
            "getComputedStyle(document.querySelector('.button')).backgroundColor"
        )
    assert header == "rgb(58, 12, 163)"  # accent_color #3a0ca3
    assert button == "rgb(255, 210, 63)"  # primary_color #ffd23f
