"""The "Your data" section of /account, the page after deletion, and the privacy page's periods."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.factories import sign_up


@pytest.fixture
def sites_dir(sites_dir: Path) -> Path:
    """The examples, with pencilsketch keeping everything until its owner deletes it."""
    manifest = sites_dir / "pencilsketch" / "site.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text + "\n[retention]\nphoto_days = 0\nresult_days = 0\n", "utf-8")
    return sites_dir


def test_the_account_page_offers_download_and_deletion(client: TestClient) -> None:
    sign_up(client)
    page = client.get("/account")
    assert page.status_code == 200
    html = page.text
    assert 'href="/api/v1/me/export"' in html and "Download my data" in html
    assert 'data-testid="delete-account-start"' in html
    assert 'type="password"' in html and 'data-testid="delete-confirm"' in html
    assert '<script src="/static/account_data.js" defer></script>' in html
    assert client.get("/static/account_data.js").status_code == 200


def test_the_page_after_deletion_needs_no_session(client: TestClient) -> None:
    page = client.get("/account/deleted")
    assert page.status_code == 200
    assert "Your account is deleted" in page.text


def test_privacy_states_the_sites_own_retention(client: TestClient) -> None:
    default = client.get("/privacy").text
    assert "deleted 30 days after the image made from them" in default
    assert "deleted 365 days after they are made" in default
    assert "Download my data" in default and "Delete my account" in default
    kept = client.get("/privacy", headers={"host": "pencilsketch.localhost"}).text
    assert kept.count("kept until you delete them (or your account)") == 2
    assert "days after" not in kept
