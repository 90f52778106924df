"""Sign-up, login, sessions, CSRF, throttling and API keys through the API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import PASSWORD, sign_up, verify_by_mail

from forkable.accounts.models import UserSession
from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import SiteRegistry

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"


def test_signup_gives_the_bonus_and_a_session(client: TestClient) -> None:
    response = client.post(SIGNUP, json={"email": "  Ada@Example.COM ", "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["balance"] == 0  # the bonus waits for the mailed link (`bonus` mode)
    verify_by_mail(client, client.app.state.services, body["user"]["id"])  # type: ignore[attr-defined]
    assert client.get("/api/v1/me").json()["balance"] == 3
    assert len(body["csrf_token"]) >= 32
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("forkable_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert client.get("/api/v1/me").json()["email"] == "ada@example.com"
    entries = client.get("/api/v1/ledger").json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in entries] == [
        ("signup_bonus", 3, 3)
    ]


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short", "at least 8"),
        ("password1", "too common"),
        ("iloveyou", "too common"),
        ("ada@example.com", "e-mail"),
    ],
)
def test_weak_passwords_are_refused(client: TestClient, password: str, fragment: str) -> None:
    response = client.post(SIGNUP, json={"email": "ada@example.com", "password": password})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "weak_password"
    assert fragment in response.json()["error"]["message"]


def test_long_passphrases_are_accepted_whole(client: TestClient) -> None:
    passphrase = "a" * 40 + " long passphrase with spaces and ünïcode " + "z" * 100
    assert (
        client.post(SIGNUP, json={"email": "long@example.com", "password": passphrase}).status_code
        == 201
    )
    client.cookies.clear()
    # Not truncated: the same prefix with a different ending does not log in.
    wrong = passphrase[:-1] + "y"
    assert (
        client.post(LOGIN, json={"email": "long@example.com", "password": wrong}).status_code == 401
    )
    ok = client.post(LOGIN, json={"email": "long@example.com", "password": passphrase})
    assert ok.status_code == 200


def test_bad_email_and_duplicate(client: TestClient) -> None:
    bad = client.post(SIGNUP, json={"email": "not-an-email", "password": PASSWORD})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_email"
    sign_up(client, "ada@example.com")
    client.cookies.clear()
    again = client.post(SIGNUP, json={"email": "ADA@example.com", "password": PASSWORD})
    assert again.status_code == 409


def test_login_failure_says_the_same_for_unknown_email_and_wrong_password(
    client: TestClient,
) -> None:
    sign_up(client, "ada@example.com")
    client.cookies.clear()
    unknown = client.post(LOGIN, json={"email": "nobody@example.com", "password": PASSWORD})
    wrong = client.post(LOGIN, json={"email": "ada@example.com", "password": "wrong password!"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_login_rotates_and_logout_destroys_the_session(
    client: TestClient, services: Services
) -> None:
    sign_up(client, "ada@example.com")
    first = client.cookies.get("forkable_session")
    response = client.post(LOGIN, json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200
    second = client.cookies.get("forkable_session")
    assert first and second and first != second
    with services.database.session() as session:
        assert len(list(session.scalars(select(UserSession)))) == 1  # the old one is gone
    csrf = response.json()["csrf_token"]
    assert client.post("/api/v1/auth/logout", headers={"x-csrf-token": csrf}).status_code == 204
    client.cookies.set("forkable_session", second)  # a stolen copy is now worthless
    assert client.get("/api/v1/me").status_code == 401
    with services.database.session() as session:
        assert list(session.scalars(select(UserSession))) == []


def test_unsafe_cookie_requests_need_the_csrf_token(client: TestClient) -> None:
    user = sign_up(client)
    assert client.post("/api/v1/auth/logout").status_code == 403
    assert client.post("/api/v1/auth/logout", headers={"x-csrf-token": "forged"}).status_code == 403
    assert client.post("/api/v1/api-keys", json={"name": "x"}).status_code == 403
    assert client.post("/api/v1/auth/logout", headers=user.headers()).status_code == 204


def test_signup_from_another_origin_is_refused(client: TestClient) -> None:
    response = client.post(
        SIGNUP,
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_login_throttling_per_account(client: TestClient) -> None:
    sign_up(client, "ada@example.com")
    client.cookies.clear()
    for _ in range(5):
        assert (
            client.post(
                LOGIN, json={"email": "ada@example.com", "password": "nope nope"}
            ).status_code
            == 401
        )
    throttled = client.post(LOGIN, json={"email": "ada@example.com", "password": PASSWORD})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    # Another account from the same address is not locked by this one's failures.
    sign_up(client, "bob@example.com")
    client.cookies.clear()
    assert (
        client.post(LOGIN, json={"email": "bob@example.com", "password": PASSWORD}).status_code
        == 200
    )


def test_login_throttling_per_ip(client: TestClient) -> None:
    for number in range(20):
        email = f"guess{number}@example.com"
        assert client.post(LOGIN, json={"email": email, "password": "nope nope"}).status_code == 401
    throttled = client.post(LOGIN, json={"email": "other@example.com", "password": "nope nope"})
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers


def test_api_keys_are_shown_once_and_work_without_csrf(client: TestClient) -> None:
    user = sign_up(client)
    created = client.post("/api/v1/api-keys", json={"name": "laptop"}, headers=user.headers())
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("fk_")
    listed = client.get("/api/v1/api-keys").json()
    assert [(k["name"], k["prefix"]) for k in listed] == [("laptop", key[:10])]
    assert "key" not in listed[0]

    session_cookie = client.cookies.get("forkable_session")
    client.cookies.clear()
    bearer = {"authorization": f"Bearer {key}"}
    # No CSRF token needed: a browser never sends this header on its own.
    assert client.get("/api/v1/me", headers=bearer).json()["email"] == user.email
    client.cookies.set("forkable_session", session_cookie or "")
    revoked = client.delete(f"/api/v1/api-keys/{listed[0]['id']}", headers=user.headers())
    assert revoked.status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=bearer).status_code == 401
    assert (
        client.get("/api/v1/me", headers={"authorization": "Bearer fk_nonsense"}).status_code == 401
    )


def test_production_cookie_is_secure_with_host_prefix(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    settings = settings_factory(
        database_url=database_url,
        env="production",
        payments="stripe",
        stripe_secret_key="sk_test_x",
        stripe_webhook_secret="whsec_x",
        metrics_token="m" * 32,
        gemini_api_key="k",
        smtp_url="smtp://127.0.0.1:25",
    )
    services = build_services(registry, settings, passwords=fast_passwords())
    app: FastAPI = create_app(registry, settings, services=services, migrate=True, run_jobs=False)
    with TestClient(app, base_url="https://coloringbook.example.com") as client:
        response = client.post(SIGNUP, json={"email": "ada@example.com", "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-forkable_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie
    services.database.dispose()


def test_disabled_users_cannot_log_in(client: TestClient, services: Services) -> None:
    from sqlalchemy import update

    from forkable.accounts.models import User
    from forkable.db.types import utcnow

    sign_up(client, "ada@example.com")
    with services.database.transaction() as session:
        session.execute(update(User).values(disabled_at=utcnow()))
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.clear()
    assert (
        client.post(LOGIN, json={"email": "ada@example.com", "password": PASSWORD}).status_code
        == 401
    )
