"""Demo payments: our own checkout page credits instantly, through the same path."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.factories import sign_up


def test_demo_purchase_credits_once(client: TestClient) -> None:
    user = sign_up(client)
    started = client.post("/api/v1/checkout", json={"pack_id": "family"}, headers=user.headers())
    assert started.status_code == 201
    body = started.json()
    assert body["checkout_url"] == f"/buy/demo/{body['purchase_id']}"
    page = client.get(body["checkout_url"])
    assert page.status_code == 200 and "demo mode" in page.text.lower()
    url = f"/api/v1/demo/purchases/{body['purchase_id']}/complete"
    assert client.post(url).status_code == 403  # the CSRF token is required
    first = client.post(url, headers=user.headers())
    second = client.post(url, headers=user.headers())
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "paid"
    assert client.get("/api/v1/me").json()["balance"] == 3 + 60
    kinds = [e["kind"] for e in client.get("/api/v1/ledger").json()]
    assert kinds.count("purchase") == 1


def test_someone_elses_demo_purchase_is_404(client: TestClient) -> None:
    owner = sign_up(client, "owner@example.com")
    purchase_id = client.post(
        "/api/v1/checkout", json={"pack_id": "starter"}, headers=owner.headers()
    ).json()["purchase_id"]
    client.cookies.clear()
    other = sign_up(client, "other@example.com")
    response = client.post(
        f"/api/v1/demo/purchases/{purchase_id}/complete", headers=other.headers()
    )
    assert response.status_code == 404
    assert client.get(f"/api/v1/purchases/{purchase_id}").status_code == 404
    assert client.get("/api/v1/me").json()["balance"] == 3
