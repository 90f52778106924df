"""A real browser through the account's mailed links: confirm the address and get the bonus,
reset a forgotten password (other browsers are logged out), change the address."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page, expect
from tests.e2e.conftest import PASSWORD, SignUp, confirm_address
from tests.serving import Server
from tests.support.mailbox import wait_for_link, wait_for_subject

NEW_PASSWORD = "a brand new passphrase 42"


def _log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def test_sign_up_shows_what_waits_then_the_link_grants_the_bonus(
    page: Page, coloringbook_server: Server
) -> None:
    base = coloringbook_server.url
    assert coloringbook_server.data_dir is not None
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(base + "/signup")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/app")
    notice = page.get_by_test_id("verify-notice")
    expect(notice).to_contain_text("get your 3 free tokens")
    expect(page.get_by_test_id("cost")).to_contain_text("you have 0 tokens")
    expect(page.get_by_test_id("dev-verify-link")).to_be_visible()  # development only

    confirm_address(page, coloringbook_server.data_dir, email)
    expect(page.get_by_test_id("verify-result")).to_contain_text("Your 3 free tokens")
    page.goto(base + "/app")
    expect(page.get_by_test_id("cost")).to_contain_text("you have 3 tokens")
    expect(page.get_by_test_id("verify-notice")).to_have_count(0)


def test_forgot_password_logs_out_the_other_browser(
    page: Page, browser: Browser, coloringbook_server: Server, sign_up: SignUp
) -> None:
    base = coloringbook_server.url
    assert coloringbook_server.data_dir is not None
    email = sign_up(base)  # `page` stays signed in: the old browser
    other = browser.new_context().new_page()
    other.goto(base + "/login")
    other.get_by_test_id("forgot-password").click()
    other.wait_for_url(base + "/forgot-password")
    other.get_by_label("E-mail").fill(email)
    other.get_by_role("button", name="Mail me a link").click()
    expect(other.get_by_test_id("reset-sent")).to_be_visible()

    other.goto(wait_for_link(coloringbook_server.data_dir, email, "/reset-password"))
    other.get_by_label("New password").fill(NEW_PASSWORD)
    other.get_by_role("button", name="Set my new password").click()
    expect(other.get_by_test_id("reset-done")).to_be_visible()

    page.goto(base + "/account")
    page.wait_for_url(f"{base}/login?next=/account")
    _log_in(page, base, email, PASSWORD)
    expect(page.get_by_test_id("form-error")).to_contain_text("Wrong e-mail or password")
    _log_in(page, base, email, NEW_PASSWORD)
    page.wait_for_url(base + "/app")
    other.context.close()


def test_change_address_on_the_account_page(
    page: Page, coloringbook_server: Server, sign_up: SignUp
) -> None:
    base = coloringbook_server.url
    assert coloringbook_server.data_dir is not None
    email = sign_up(base)
    new_email = f"moved-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(base + "/account")
    page.get_by_test_id("new-email").fill(new_email)
    page.get_by_test_id("email-password").fill(PASSWORD)
    page.get_by_test_id("change-email").click()
    expect(page.get_by_test_id("security-done")).to_contain_text("Open the link")
    expect(page.get_by_test_id("account-email")).to_have_text(email)

    page.goto(wait_for_link(coloringbook_server.data_dir, new_email, "/verify-email"))
    page.get_by_test_id("verify-submit").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text(new_email)
    page.goto(base + "/account")
    expect(page.get_by_test_id("account-email")).to_have_text(new_email)
    wait_for_subject(coloringbook_server.data_dir, email, "address was changed")  # old one told
