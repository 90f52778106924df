"""The pages of mailed links and the account's security forms, as plain HTML forms."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import PASSWORD, mailed_token, sign_up

from forkable.mail.models import OutboxMail
from forkable.services import Services

NEW_PASSWORD = "a brand new passphrase 42"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_the_app_page_says_what_waits_and_a_get_uses_no_link(
    client: TestClient, services: Services
) -> None:
    signed = client.post(
        "/api/v1/auth/signup", json={"email": "ada@example.com", "password": PASSWORD}
    )
    user_id = signed.json()["user"]["id"]
    page = client.get("/app")
    assert "get your <strong>3 free tokens</strong>" in page.text
    token = mailed_token(services, user_id)
    assert f'href="/verify-email?token={token}"' in page.text  # development shortcut
    # A mail scanner following the link only sees a button.
    shown = client.get(f"/verify-email?token={token}")
    assert shown.status_code == 200 and 'data-testid="verify-submit"' in shown.text
    assert client.get("/api/v1/me").json()["balance"] == 0
    done = client.post("/verify-email", data={"token": token})
    assert done.status_code == 200
    assert "Your 3 free tokens are in your account." in done.text
    assert client.get("/api/v1/me").json()["balance"] == 3
    assert 'data-testid="verify-notice"' not in client.get("/app").text
    again = client.post("/verify-email", data={"token": token})
    assert again.status_code == 400 and "not valid" in again.text


def test_the_resend_button_sends_a_new_link(client: TestClient, services: Services) -> None:
    signed = client.post(
        "/api/v1/auth/signup", json={"email": "ada@example.com", "password": PASSWORD}
    )
    first = mailed_token(services, signed.json()["user"]["id"])
    csrf = _csrf(client.get("/app").text)
    sent = client.post("/verify-email/resend", data={"csrf_token": csrf})
    assert sent.status_code == 200 and 'data-testid="verify-sent"' in sent.text
    assert mailed_token(services, signed.json()["user"]["id"]) != first


def test_production_never_shows_the_link(
    app: FastAPI, client: TestClient, services: Services
) -> None:
    services.settings = services.settings.model_copy(update={"env": "production"})
    try:
        signed = client.post(
            "/api/v1/auth/signup", json={"email": "ada@example.com", "password": PASSWORD}
        )
    finally:
        services.settings = services.settings.model_copy(update={"env": "development"})
    assert signed.status_code == 201, signed.text
    assert "forkable_dev_verify_link" not in signed.headers.get("set-cookie", "")
    with services.database.session() as session:
        mailed = "".join(text or "" for text in session.scalars(select(OutboxMail.body_text)))
    # Production links point at the site's own domain, whatever host the request came to.
    assert "https://coloringbook.example.com/verify-email?token=" in mailed


def test_forgot_and_reset_password_pages(client: TestClient, services: Services) -> None:
    user = sign_up(client)
    assert (
        'href="/forgot-password"'
        in TestClient(client.app)
        .get(  # type: ignore[arg-type]
            "/login", headers={"host": "coloringbook.localhost"}
        )
        .text
    )
    for email in (user.email, "nobody@example.com"):
        answer = client.post("/forgot-password", data={"email": email})
        assert answer.status_code == 200 and 'data-testid="reset-sent"' in answer.text
    token = mailed_token(services, user.user_id, "password_reset")
    assert 'name="token"' in client.get(f"/reset-password?token={token}").text
    weak = client.post("/reset-password", data={"token": token, "password": "password"})
    assert weak.status_code == 422
    done = client.post("/reset-password", data={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200 and 'data-testid="reset-done"' in done.text
    assert client.get("/api/v1/me").status_code == 401


def test_account_security_forms(client: TestClient, services: Services) -> None:
    user = sign_up(client)
    page = client.get("/account").text
    assert 'data-testid="security"' in page
    csrf = _csrf(page)
    wrong = client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": "nope nope", "new_password": NEW_PASSWORD},
    )
    assert 'data-testid="security-error"' in wrong.text
    changed = client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert 'data-testid="security-done"' in changed.text
    moved = client.post(
        "/account/email",
        data={"csrf_token": csrf, "password": NEW_PASSWORD, "new_email": "new@example.com"},
    )
    assert 'data-testid="security-done"' in moved.text
    assert mailed_token(services, user.user_id, "email_change")
