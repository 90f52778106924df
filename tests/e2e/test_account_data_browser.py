"""/account in a real browser: download my data, then delete the account for good."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.e2e.conftest import BrowserLog, SignUp
    from tests.serving import Server

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def test_download_then_delete_the_account(
    page: Page,
    coloringbook_server: Server,
    sign_up: SignUp,
    browser_log: BrowserLog,
    tmp_path: Path,
) -> None:
    base = coloringbook_server.url
    email = sign_up(base)
    page.goto(base + "/account")
    expect(page.get_by_role("heading", name="Your data")).to_be_visible()

    # Download my data: a zip whose account.json is this account's.
    with page.expect_download() as started:
        page.get_by_test_id("download-data").click()
    download = started.value
    assert download.suggested_filename.startswith("coloringbook-export-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    account = json.loads(zipfile.ZipFile(saved).read("account.json"))
    assert account["profile"]["email"] == email
    assert [entry["kind"] for entry in account["ledger"]] == ["signup_bonus"]

    # Delete: a second step asks for the password and an explicit confirmation.
    form = page.locator("[data-delete-form]")
    expect(form).to_be_hidden()
    page.get_by_test_id("delete-account-start").click()
    expect(form).to_be_visible()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_test_id("delete-account-confirm").click()
    expect(page.get_by_test_id("delete-error")).to_contain_text("Tick the box")
    page.get_by_label("Your password").fill("not my password")
    page.get_by_test_id("delete-confirm").check()
    page.get_by_test_id("delete-account-confirm").click()
    expect(page.get_by_test_id("delete-error")).to_have_text("That is not your password.")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_test_id("delete-account-confirm").click()

    page.wait_for_url(base + "/account/deleted")
    expect(page.get_by_test_id("account-deleted")).to_contain_text("Your account is deleted")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()

    # Signed out, and the password opens nothing any more.
    page.goto(base + "/account")
    page.wait_for_url(base + "/login?next=/account")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("form-error")).to_have_text("Wrong e-mail or password.")

    assert browser_log.failed_requests == []
    # The only error answers: the wrong password (403) and the failed login (401).
    assert sorted(line.split()[0] for line in browser_log.bad_responses) == ["401", "403"]
