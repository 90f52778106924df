"""The console after an erasure: `deleted #id` instead of an address, verified or not, and the
deletion in the audit log without the erased data."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.factories import PASSWORD, SignedUp, sign_up, upload, wait_for

from forkable.accounts.models import User
from forkable.services import Services


def _leaver(visitor_client: TestClient) -> SignedUp:
    user = sign_up(visitor_client, "leaver@example.com")
    generation_id = upload(visitor_client, user).json()["id"]  # type: ignore[attr-defined]
    assert wait_for(visitor_client, generation_id)["status"] == "succeeded"
    gone = visitor_client.request(
        "DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=user.headers()
    )
    assert gone.status_code == 204, gone.text
    return user


def test_a_deleted_user_shows_as_deleted_without_an_address(
    client: TestClient, admin: SignedUp, visitor_client: TestClient
) -> None:
    leaver = _leaver(visitor_client)

    users = client.get("/admin/users").text
    assert f"deleted #{leaver.user_id}" in users
    assert "leaver@example.com" not in users
    assert 'data-testid="deleted-pill"' in users

    detail = client.get(f"/admin/users/{leaver.user_id}").text
    assert f"deleted #{leaver.user_id}" in detail and 'data-testid="user-deleted"' in detail
    assert "leaver@example.com" not in detail
    assert 'data-testid="grant-form"' not in detail
    assert 'data-testid="disable-form"' not in detail
    assert 'data-testid="enable-form"' not in detail

    generations = client.get("/admin/generations").text
    assert f"deleted #{leaver.user_id}" in generations and "leaver@example.com" not in generations


def test_the_audit_log_lists_the_deletion_without_the_erased_data(
    client: TestClient, admin: SignedUp, visitor_client: TestClient
) -> None:
    leaver = _leaver(visitor_client)
    page = client.get("/admin/audit?action=user.delete")
    assert page.status_code == 200
    html = page.text
    assert 'data-action="user.delete"' in html
    assert f'<a href="/admin/users/{leaver.user_id}">deleted #{leaver.user_id}</a>' in html
    assert "leaver@example.com" not in html
    assert '<option value="user.delete" selected>' in html
    for detail in ("by</span> self", "photos</span> 1", "results</span> 1"):
        assert detail in html


def test_the_console_says_whether_an_address_is_verified(
    client: TestClient, admin: SignedUp, visitor_client: TestClient, services: Services
) -> None:
    sure = sign_up(visitor_client, "sure@example.com")
    unsure = sign_up(visitor_client, "unsure@example.com")
    with services.database.transaction() as session:
        session.execute(
            update(User)
            .where(User.id == sure.user_id)
            .values(email_verified_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
        )
        session.execute(
            update(User).where(User.id == unsure.user_id).values(email_verified_at=None)
        )
    verified = client.get(f"/admin/users/{sure.user_id}").text
    assert "verified <time" in verified and "2026-12-01 09:30" in verified
    assert 'data-testid="verified-pill"' in verified
    assert 'data-testid="resend-verification-form"' not in verified
    pending = client.get(f"/admin/users/{unsure.user_id}").text
    assert "not verified yet" in pending and 'data-testid="unverified-pill"' in pending
    assert 'data-testid="resend-verification-form"' in pending
    listing = client.get("/admin/users").text
    assert 'data-testid="verified-pill"' in listing and 'data-testid="unverified-pill"' in listing
