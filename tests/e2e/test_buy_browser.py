"""Buying a pack in demo mode in a real browser: the balance rises, without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from tests.e2e.conftest import SignUp
from tests.serving import Server

pytestmark = pytest.mark.browser


def test_buy_a_pack_in_demo_mode(page: Page, coloringbook_server: Server, sign_up: SignUp) -> None:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    base = coloringbook_server.url
    sign_up(base)  # the address confirmed: its 3 free tokens are there

    page.goto(f"{base}/buy")
    expect(page.get_by_test_id("demo-banner")).to_contain_text("no real money")
    page.get_by_test_id("buy-family").click()
    page.wait_for_url(re.compile(r"/buy/demo/"))
    expect(page.get_by_test_id("demo-banner")).to_be_visible()
    page.get_by_test_id("demo-pay").click()
    page.wait_for_url(re.compile(r"/buy/success"))
    expect(page.get_by_test_id("success-message")).to_contain_text("60 tokens have arrived")
    expect(page.get_by_test_id("success-balance")).to_have_text("63 tokens")
    expect(page.get_by_test_id("balance-chip")).to_have_text("63 tokens")
    assert errors == []

    page.goto(f"{base}/account")
    rows = page.get_by_test_id("purchases-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Family (60 tokens)")
    expect(rows.first).to_contain_text("Paid")
    assert errors == []
