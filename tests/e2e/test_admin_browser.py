"""The admin console in a real browser: charts render, a grant lands in the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from tests.support.mailbox import verify_from_mail

from forkable.accounts.models import User
from forkable.db import Database

if TYPE_CHECKING:
    from tests.e2e.conftest import BrowserLog, SignUp
    from tests.serving import Server

pytestmark = pytest.mark.browser


def _make_admin(data_dir: Path, email: str) -> None:
    """What `forkable users create --admin` would have done, for an account made in the browser."""
    database = Database(f"sqlite:///{data_dir / 'forkable.sqlite3'}")
    try:
        with database.transaction() as session:
            session.execute(update(User).where(User.email == email).values(is_admin=True))
    finally:
        database.dispose()


def test_dashboard_charts_and_a_grant_through_the_ui(
    page: Page,
    coloringbook_server: Server,
    sign_up: SignUp,
    browser_log: BrowserLog,
    tmp_path: Path,
) -> None:
    base = coloringbook_server.url
    customer = "customer@example.com"
    created = httpx.post(
        base + "/api/v1/auth/signup",
        json={"email": customer, "password": "correct horse battery"},
    )
    assert created.status_code == 201
    with httpx.Client(base_url=base, timeout=30) as customer_client:
        verify_from_mail(customer_client, tmp_path / "var", customer)
    email = sign_up(base)
    _make_admin(tmp_path / "var", email)
    # /app loads the history with fetches; leaving before they finish would abort them.
    page.wait_for_load_state("networkidle")

    # The header shows the console to admins; the dashboard draws its charts.
    page.goto(base + "/")
    page.get_by_test_id("nav-admin").click()
    page.wait_for_url(base + "/admin")
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(page.get_by_test_id("total-signups")).to_have_text("2")
    for chart in ("signups", "generations", "revenue", "cost"):
        svg = page.get_by_test_id(f"svg-{chart}")
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 30, chart
    bars = page.get_by_test_id("svg-signups").locator("rect.chart-bar")
    expect(bars).to_have_count(1)
    bar = bars.first.bounding_box()
    assert bar is not None and bar["width"] > 0 and bar["height"] > 0
    assert (
        page.evaluate("getComputedStyle(document.querySelector('rect.chart-bar')).fill") != "none"
    )

    # Find the customer and grant tokens with a reason.
    page.get_by_role("navigation", name="Admin console").get_by_role("link", name="Users").click()
    page.wait_for_url(base + "/admin/users")
    page.get_by_test_id("user-search").fill("customer@")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(base + "/admin/users?q=customer%40")
    expect(page.get_by_test_id("user-row")).to_have_count(1)
    page.get_by_role("link", name=customer).click()
    page.wait_for_load_state()
    expect(page.get_by_test_id("user-email")).to_have_text(customer)
    expect(page.get_by_test_id("user-available")).to_have_text("3")
    page.get_by_test_id("grant-amount").fill("5")
    page.get_by_test_id("grant-reason").fill("thanks for the bug report")
    page.get_by_test_id("grant-submit").click()
    page.wait_for_url("**/admin/users/*?done=grant")
    expect(page.get_by_test_id("admin-notice")).to_contain_text("Tokens granted")
    expect(page.get_by_test_id("user-available")).to_have_text("8")
    expect(page.get_by_test_id("user-audit")).to_contain_text("thanks for the bug report")

    # The audit log names who did what, to whom, and why.
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url(base + "/admin/audit")
    rows = page.get_by_test_id("audit-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("tokens.grant")
    expect(rows.first).to_contain_text(email)
    expect(rows.first).to_contain_text(customer)
    expect(rows.first).to_contain_text("thanks for the bug report")

    assert browser_log.console_errors == []
    assert browser_log.failed_requests == []
    assert browser_log.bad_responses == []
