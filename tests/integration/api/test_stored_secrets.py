"""Only hashes of session tokens and API keys are stored: read every row of every table."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import PASSWORD, sign_up

from forkable.accounts.models import ApiKey, UserSession
from forkable.schema import Base
from forkable.services import Services


def _every_value(services: Services) -> list[str]:
    """Every value of every row of every table, as text."""
    values: list[str] = []
    with services.database.session() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                values += [v.hex() if isinstance(v, bytes) else str(v) for v in row]
    return values


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_session_tokens_and_api_keys_are_stored_as_hashes(
    client: TestClient, services: Services
) -> None:
    user = sign_up(client, "ada@example.com")
    signup_token = client.cookies["forkable_session"]
    login = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 200
    login_token = client.cookies["forkable_session"]
    assert login_token != signup_token  # login rotated the session
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "script"},
        headers={"x-csrf-token": login.json()["csrf_token"]},
    )
    assert created.status_code == 201, created.text
    api_key = created.json()["key"]
    # Both work, so they are what the rows must not hold.
    assert client.get("/api/v1/me").status_code == 200
    assert (
        client.get("/api/v1/me", headers={"authorization": f"Bearer {api_key}"}).status_code == 200
    )

    with services.database.session() as session:
        sessions = list(session.scalars(select(UserSession)))
        keys = list(session.scalars(select(ApiKey)))
    assert [s.token_hash for s in sessions] == [_sha256(login_token)]
    assert [k.key_hash for k in keys] == [_sha256(api_key)]
    assert (
        keys[0].prefix == api_key[:10]
    )  # shown in the key list; 7 of the key's 43 random characters

    values = _every_value(services)
    for secret in (login_token, signup_token, api_key, api_key[10:]):
        assert not [v for v in values if secret in v], "a secret is stored in the clear"
