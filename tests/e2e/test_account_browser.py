"""The /account page in a real browser: balance, token history, API keys, log out, log in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.e2e.conftest import BrowserLog, SignUp
    from tests.serving import Server

pytestmark = pytest.mark.browser


def test_api_keys_logout_and_login_again(
    page: Page, coloringbook_server: Server, sign_up: SignUp, browser_log: BrowserLog
) -> None:
    base = coloringbook_server.url
    email = sign_up(base)

    page.get_by_role("link", name="Account").click()
    page.wait_for_url(base + "/account")
    expect(page.get_by_test_id("account-email")).to_have_text(email)
    expect(page.get_by_test_id("account-available")).to_have_text("3")
    expect(page.get_by_test_id("account-held")).to_have_text("0")
    ledger_rows = page.get_by_test_id("ledger-table").locator("tbody tr")
    expect(ledger_rows).to_have_count(1)
    expect(ledger_rows.first).to_contain_text("Sign-up bonus")
    expect(ledger_rows.first).to_contain_text("+3")

    # Create a key: it is shown once, and it works.
    page.get_by_label("Name of the new key").fill("My script")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_test_id("new-key")
    expect(shown).to_be_visible()
    key = page.get_by_test_id("new-key-value").inner_text().strip()
    assert len(key) > 20
    rows = page.get_by_test_id("key-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("My script")
    expect(rows.first).to_contain_text(key[:10])
    assert key not in rows.first.inner_text()

    me = httpx.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json()["email"] == email

    page.get_by_role("button", name="I saved it").click()
    expect(shown).to_be_hidden()
    page.reload()
    expect(page.get_by_test_id("key-row")).to_have_count(1)
    assert key not in page.content()

    # Revoke it: the API refuses it from now on.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke key “My script”").click()
    expect(page.get_by_test_id("key-row")).to_have_count(0)
    expect(page.get_by_text("You have no API keys.")).to_be_visible()
    revoked = httpx.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert revoked.status_code == 401

    # Log out from the header: back on the landing page, signed out.
    page.get_by_role("button", name="Log out").first.click()
    page.wait_for_url(base + "/")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_test_id("balance-chip")).to_have_count(0)
    page.goto(base + "/account")
    page.wait_for_url(base + "/login?next=/account")

    # Log in again: `next` brings us back to the account.
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill("wrong password!")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("form-error")).to_have_text("Wrong e-mail or password.")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/account")
    expect(page.get_by_test_id("account-email")).to_have_text(email)

    assert browser_log.failed_requests == []
    # The only error responses: the wrong password (401), which Chromium also logs.
    assert [line.split()[0] for line in browser_log.bad_responses] == ["401"]
    assert all("401" in text for text in browser_log.console_errors)


def test_login_ignores_a_next_that_leaves_the_site(
    page: Page, coloringbook_server: Server, sign_up: SignUp
) -> None:
    base = coloringbook_server.url
    email = sign_up(base)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(base + "/")

    page.goto(base + "/login?next=//evil.example/steal")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/app")


def test_signup_shows_the_apis_errors(
    page: Page, coloringbook_server: Server, sign_up: SignUp
) -> None:
    base = coloringbook_server.url
    email = sign_up(base)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(base + "/")

    page.goto(base + "/signup")
    expect(page.get_by_test_id("signup-bonus")).to_contain_text("3 free tokens")
    page.get_by_label("E-mail").fill(email)
    password = page.get_by_label("Password", exact=True)
    password.fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("form-error")).to_have_text(
        "Use at least 8 characters for your password."
    )
    expect(password).to_have_attribute("aria-invalid", "true")

    page.get_by_role("button", name="Show password").click()
    expect(password).to_have_attribute("type", "text")
    page.get_by_role("button", name="Hide password").click()
    expect(password).to_have_attribute("type", "password")

    password.fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("already exists")
    assert page.url == base + "/signup"


def test_account_fits_a_phone(page: Page, coloringbook_server: Server, sign_up: SignUp) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    sign_up(coloringbook_server.url)
    page.goto(coloringbook_server.url + "/account", wait_until="networkidle")
    page.get_by_label("Name of the new key").fill("A key with a rather long name for a phone")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("key-row")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
