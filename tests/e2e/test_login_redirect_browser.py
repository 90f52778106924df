"""After logging in, `?next=` leads only to a page of the site itself, in a real browser."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route

if TYPE_CHECKING:
    from tests.serving import Server

from tests.e2e.conftest import PASSWORD

pytestmark = pytest.mark.browser

# As they would appear in a link someone was sent: the query string of /login.
HOSTILE_NEXT = [
    "/%09/evil.example",  # a tab: browsers drop it and go to //evil.example
    "/%0A/evil.example",  # a newline, likewise
    "//evil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",  # a backslash, which browsers read as "/"
    "/%5C%5Cevil.example",
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(document.domain)",
    "%20//evil.example",
]


def log_in(page: Page, base: str, email: str, query: str) -> str:
    """Log in on /login?{query}; return the URL the browser ends on."""
    # Leave the last page first: once its cookies are gone, its script would send it to
    # /login?next=<that page> and race the navigation below.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto(f"{base}/login?{query}")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_load_state()
    return page.url


def test_next_never_leaves_the_site(page: Page, coloringbook_server: Server) -> None:
    base = coloringbook_server.url
    email = f"next-{uuid.uuid4().hex[:12]}@example.com"
    signup = httpx.post(
        base + "/api/v1/auth/signup", json={"email": email, "password": PASSWORD}, timeout=30
    )
    assert signup.status_code == 201, signup.text

    def evil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body="<h1>evil</h1>")

    # Had the browser been sent away, it lands here, and the test says where it went.
    page.route(lambda url: urlsplit(url).hostname == "evil.example", evil)
    for hostile in HOSTILE_NEXT:
        assert log_in(page, base, email, f"next={hostile}") == base + "/app", hostile
    # A page of the site itself is still where `next` leads.
    assert log_in(page, base, email, "next=/account") == base + "/account"
    assert log_in(page, base, email, "next=%2Faccount%3Fx%3D1") == base + "/account?x=1"
