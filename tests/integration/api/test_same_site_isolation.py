"""Another user of the same site gets nothing of yours; an admin of the site may look.

The cross-site case is `test_generations_api.py::test_credentials_of_site_a_get_404_from_site_b`;
these are users of one site, with the session cookie and with an API key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.factories import SignedUp, sign_up, upload, wait_for

from forkable.accounts.models import User
from forkable.services import Services

HOST = "http://coloringbook.localhost"


@dataclass
class Browser:
    client: TestClient
    user: SignedUp
    api_key: str

    def as_key(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}


@dataclass
class OwnersThings:
    generation_id: str
    purchase_id: str
    result: bytes
    photo: bytes


def _browser(client: TestClient, email: str) -> Browser:
    user = sign_up(client, email)
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=user.headers())
    assert key.status_code == 201, key.text
    return Browser(client, user, key.json()["key"])


@pytest.fixture
def owner(client: TestClient) -> Browser:
    return _browser(client, "owner@example.com")


@pytest.fixture
def things(owner: Browser) -> OwnersThings:
    """A finished image and a purchase of the owner's."""
    submitted = upload(owner.client, owner.user)
    assert submitted.status_code == 202, submitted.text  # type: ignore[attr-defined]
    generation_id = submitted.json()["id"]  # type: ignore[attr-defined]
    assert wait_for(owner.client, generation_id)["status"] == "succeeded"
    started = owner.client.post(
        "/api/v1/checkout", json={"pack_id": "starter"}, headers=owner.user.headers()
    )
    assert started.status_code == 201, started.text
    result = owner.client.get(f"/api/v1/generations/{generation_id}/result")
    photo = owner.client.get(f"/api/v1/generations/{generation_id}/input")
    assert result.status_code == 200 and photo.status_code == 200
    return OwnersThings(generation_id, started.json()["purchase_id"], result.content, photo.content)


@pytest.fixture
def second_browser(app: FastAPI, client: TestClient) -> Iterator[TestClient]:
    """Another browser on the same site; ``client`` runs the app's lifespan (only one may)."""
    browser = TestClient(app, base_url=HOST)
    yield browser
    browser.close()


@pytest.fixture
def other(second_browser: TestClient) -> Browser:
    return _browser(second_browser, "other@example.com")


@pytest.fixture
def site_admin(app: FastAPI, client: TestClient, services: Services) -> Iterator[Browser]:
    browser = TestClient(app, base_url=HOST)
    admin = _browser(browser, "admin@example.com")
    with services.database.transaction() as session:
        session.execute(update(User).where(User.id == admin.user.user_id).values(is_admin=True))
    yield admin
    browser.close()


def _paths(things: OwnersThings) -> list[str]:
    g = things.generation_id
    return [
        f"/api/v1/generations/{g}",
        f"/api/v1/generations/{g}/result",
        f"/api/v1/generations/{g}/input",
        f"/api/v1/purchases/{things.purchase_id}",
    ]


def test_another_user_of_the_site_gets_404_for_everything_of_yours(
    owner: Browser, things: OwnersThings, other: Browser
) -> None:
    for auth in ({}, other.as_key()):  # the session cookie, then an API key
        for path in _paths(things):
            response = other.client.get(path, headers=auth)
            assert response.status_code == 404, (path, auth, response.text)
            assert response.json()["error"]["code"] == "not_found"
        deleted = other.client.delete(
            f"/api/v1/generations/{things.generation_id}", headers={**other.user.headers(), **auth}
        )
        assert deleted.status_code == 404, deleted.text
        assert other.client.get("/api/v1/generations", headers=auth).json()["items"] == []
        assert other.client.get("/api/v1/purchases", headers=auth).json() == []
    # Nothing of the owner's changed.
    g = things.generation_id
    assert owner.client.get(f"/api/v1/generations/{g}").json()["status"] == "succeeded"
    assert owner.client.get(f"/api/v1/generations/{g}/result").content == things.result
    assert owner.client.get(f"/api/v1/generations/{g}/input").content == things.photo


def test_an_admin_of_the_site_may_see_but_not_delete(
    owner: Browser, things: OwnersThings, site_admin: Browser
) -> None:
    g = things.generation_id
    for auth in ({}, site_admin.as_key()):
        got = site_admin.client.get(f"/api/v1/generations/{g}", headers=auth)
        assert got.status_code == 200 and got.json()["id"] == g
        result = site_admin.client.get(f"/api/v1/generations/{g}/result", headers=auth)
        assert result.status_code == 200 and result.content == things.result
        photo = site_admin.client.get(f"/api/v1/generations/{g}/input", headers=auth)
        assert photo.status_code == 200 and photo.content == things.photo
        purchase = site_admin.client.get(f"/api/v1/purchases/{things.purchase_id}", headers=auth)
        assert purchase.status_code == 200 and purchase.json()["id"] == things.purchase_id
        # The admin's own lists stay the admin's own.
        assert site_admin.client.get("/api/v1/generations", headers=auth).json()["items"] == []
        assert site_admin.client.get("/api/v1/purchases", headers=auth).json() == []
        # Deleting is the owner's: an admin action would be audited, and this one is not.
        deleted = site_admin.client.delete(
            f"/api/v1/generations/{g}", headers={**site_admin.user.headers(), **auth}
        )
        assert deleted.status_code == 403, deleted.text
        assert deleted.json()["error"]["code"] == "forbidden"
    assert owner.client.get(f"/api/v1/generations/{g}/result").content == things.result
    assert (
        owner.client.delete(f"/api/v1/generations/{g}", headers=owner.user.headers()).status_code
        == 204
    )
    assert owner.client.get(f"/api/v1/generations/{g}").status_code == 404
