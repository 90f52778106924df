"""What an API key may do: make and read images, read the ledger and /me; nothing a session
alone may do (manage keys, buy, act as admin), an admin's key included."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.factories import SignedUp, photo_bytes, sign_up, wait_for

from forkable.accounts.models import User
from forkable.ledger.models import LedgerEntry
from forkable.services import Services

HOST = "http://coloringbook.localhost"


@pytest.fixture
def admin(client: TestClient, services: Services) -> SignedUp:
    """An admin of coloringbook, signed in on ``client``."""
    user = sign_up(client, "admin@example.com")
    with services.database.transaction() as session:
        session.execute(update(User).where(User.id == user.user_id).values(is_admin=True))
    return user


@pytest.fixture
def key(client: TestClient, admin: SignedUp) -> str:
    created = client.post("/api/v1/api-keys", json={"name": "script"}, headers=admin.headers())
    assert created.status_code == 201, created.text
    value: str = created.json()["key"]
    return value


@pytest.fixture
def script(app: FastAPI, client: TestClient, key: str) -> Iterator[TestClient]:
    """A client with the admin's API key and no cookie (``client`` runs the lifespan)."""
    with_key = TestClient(app, base_url=HOST, headers={"authorization": f"Bearer {key}"})
    yield with_key
    with_key.close()


def assert_session_required(response: object) -> None:
    assert response.status_code == 403, response.text  # type: ignore[attr-defined]
    assert response.json()["error"]["code"] == "session_required"  # type: ignore[attr-defined]


def test_a_key_cannot_create_list_or_revoke_keys(
    client: TestClient, script: TestClient, admin: SignedUp
) -> None:
    key_id = client.get("/api/v1/api-keys").json()[0]["id"]
    assert_session_required(script.post("/api/v1/api-keys", json={"name": "outlives me"}))
    assert_session_required(script.get("/api/v1/api-keys"))
    assert_session_required(script.delete(f"/api/v1/api-keys/{key_id}"))
    assert [k["id"] for k in client.get("/api/v1/api-keys").json()] == [key_id]


def admin_api_calls(client: TestClient, user_id: int) -> list[tuple[str, str]]:
    """Every (method, path) of the admin API, from the API document, parameters filled in."""
    calls = []
    for template, operations in client.get("/api/openapi.json").json()["paths"].items():
        if template.startswith("/api/v1/admin"):
            path = template.replace("{user_id}", str(user_id))
            path = re.sub(r"\{[a-z_]+\}", "some-id", path)
            calls += [(method.upper(), path) for method in sorted(operations)]
    return calls


def test_a_key_cannot_call_any_admin_route_even_an_admins(
    client: TestClient, script: TestClient, admin: SignedUp, services: Services
) -> None:
    calls = admin_api_calls(client, admin.user_id)
    assert ("POST", f"/api/v1/admin/users/{admin.user_id}/grant") in calls
    assert len(calls) >= 10
    for method, path in calls:
        body = {"amount": 5, "reason": "a key granting tokens"} if method == "POST" else None
        assert_session_required(script.request(method, path, json=body))
    # The console's forms refuse it too, without a CSRF token or one.
    form = script.post(
        f"/admin/users/{admin.user_id}/grant",
        data={"amount": "5", "reason": "a key granting tokens"},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert form.status_code == 403
    assert script.get("/admin/users", headers={"accept": "text/html"}).status_code == 403
    with services.database.session() as session:
        kinds = session.scalars(select(LedgerEntry.kind)).all()
    assert "admin_grant" not in kinds
    # The admin's session still can.
    granted = client.post(
        f"/api/v1/admin/users/{admin.user_id}/grant",
        json={"amount": 5, "reason": "from the session"},
        headers=admin.headers(),
    )
    assert granted.status_code == 200, granted.text


def test_a_key_cannot_buy(client: TestClient, script: TestClient, admin: SignedUp) -> None:
    assert_session_required(script.post("/api/v1/checkout", json={"pack_id": "starter"}))
    started = client.post("/api/v1/checkout", json={"pack_id": "starter"}, headers=admin.headers())
    assert started.status_code == 201, started.text
    purchase_id = started.json()["purchase_id"]
    assert_session_required(script.post(f"/api/v1/demo/purchases/{purchase_id}/complete"))
    # Reading receipts is fine.
    assert [p["id"] for p in script.get("/api/v1/purchases").json()] == [purchase_id]


def test_a_key_still_makes_and_reads_images_and_reads_the_ledger(
    script: TestClient, admin: SignedUp
) -> None:
    me = script.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["id"] == admin.user_id
    submitted = script.post(
        "/api/v1/generations", files={"image": ("me.jpg", photo_bytes(), "image/jpeg")}
    )
    assert submitted.status_code == 202, submitted.text
    generation_id = submitted.json()["id"]
    assert wait_for(script, generation_id)["status"] == "succeeded"
    assert script.get(f"/api/v1/generations/{generation_id}/result").status_code == 200
    assert [g["id"] for g in script.get("/api/v1/generations").json()["items"]] == [generation_id]
    kinds = [entry["kind"] for entry in script.get("/api/v1/ledger").json()]
    assert "signup_bonus" in kinds
    assert script.delete(f"/api/v1/generations/{generation_id}").status_code == 204


def test_the_api_document_says_which_routes_need_a_session(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    session_only = [
        ("/api/v1/api-keys", "post"),
        ("/api/v1/api-keys", "get"),
        ("/api/v1/api-keys/{key_id}", "delete"),
        ("/api/v1/checkout", "post"),
        ("/api/v1/demo/purchases/{purchase_id}/complete", "post"),
        ("/api/v1/admin/users/{user_id}/grant", "post"),
    ]
    for path, method in session_only:
        assert "session_required" in paths[path][method]["responses"]["403"]["description"]
