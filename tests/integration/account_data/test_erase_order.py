"""The erasure's order: rows first, then files; files the store refused stay findable."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import sign_up, upload, wait_for

from forkable.account_data.erase import (
    Requester,
    StillWorking,
    erase_account,
    finish_erasures,
)
from forkable.accounts.models import User
from forkable.admin.models import AuditEntry
from forkable.generations.models import Generation, Status
from forkable.services import Services
from forkable.sites import Site
from forkable.storage import MediaStore, MediaUnavailable, MissingMedia

from .conftest import assert_ledger_clean, generation_keys


class RefusingDeletes:
    """The app's store, except that it cannot delete (a bucket policy gone wrong)."""

    def __init__(self, store: MediaStore) -> None:
        self.store = store
        self.refused: list[str] = []

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.store.put(key, data, content_type)

    def get(self, key: str) -> bytes:
        return self.store.get(key)

    def delete(self, key: str) -> None:
        self.refused.append(key)
        raise MediaUnavailable("access denied")

    def check(self) -> None:
        self.store.check()


def _site(services: Services) -> Site:
    site = services.sites.get("coloringbook")
    assert site is not None
    return site


def test_files_the_store_refuses_are_reported_and_deleted_later(
    client: TestClient, services: Services
) -> None:
    user = sign_up(client)
    generation_id = upload(client, user).json()["id"]  # type: ignore[attr-defined]
    assert wait_for(client, generation_id)["status"] == "succeeded"
    [(_, photo, result)] = generation_keys(services, user.user_id)
    assert photo and result
    refusing = RefusingDeletes(services.store)

    erasure = erase_account(
        services.database,
        refusing,
        _site(services),
        user_id=user.user_id,
        requester=Requester(by="cli", actor="cli"),
    )

    # The account is gone at once; the answer says two files are not.
    assert (erasure.files_pending, erasure.complete) == (2, False)
    assert sorted(refusing.refused) == sorted([photo, result])
    assert client.get("/api/v1/me").status_code == 401
    assert services.store.get(photo) and services.store.get(result)
    assert generation_keys(services, user.user_id) == [(generation_id, photo, result)]
    with services.database.session() as session:
        [audit] = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.delete"))
    assert json.loads(audit.details or "{}") == {"by": "cli", "photos": 1, "results": 1}

    # A later run with a store that works finishes the job: the hourly maintenance's.
    assert finish_erasures(services.database, refusing) == 2
    services.maintenance.expire_media()
    for key in (photo, result):
        with pytest.raises(MissingMedia):
            services.store.get(key)
    assert generation_keys(services, user.user_id) == [(generation_id, None, None)]
    assert_ledger_clean(services)


def test_an_image_being_made_holds_the_erasure_back(client: TestClient, services: Services) -> None:
    user = sign_up(client)
    generation_id = upload(client, user).json()["id"]  # type: ignore[attr-defined]
    assert wait_for(client, generation_id)["status"] == "succeeded"
    # As if a worker had just claimed it (the state is what the erasure reads).
    with services.database.transaction() as session:
        row = session.get(Generation, generation_id)
        assert row is not None
        row.status = Status.RUNNING
    with pytest.raises(StillWorking):
        erase_account(
            services.database,
            services.store,
            _site(services),
            user_id=user.user_id,
            requester=Requester(by="self", actor="x"),
        )
    answer = client.request(
        "DELETE",
        "/api/v1/me",
        json={"password": "correct horse battery staple"},
        headers=user.headers(),
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "images_in_progress"
    with services.database.session() as session:
        kept = session.get(User, user.user_id)
        assert kept is not None and kept.deleted_at is None and kept.email == user.email
    assert client.get("/api/v1/me").status_code == 200
    with services.database.transaction() as session:
        row = session.get(Generation, generation_id)
        assert row is not None
        row.status = Status.SUCCEEDED


def test_the_api_says_when_files_are_left(client: TestClient, services: Services) -> None:
    user = sign_up(client)
    generation_id = upload(client, user).json()["id"]  # type: ignore[attr-defined]
    assert wait_for(client, generation_id)["status"] == "succeeded"
    working = services.store
    services.store = RefusingDeletes(working)
    try:
        answer = client.request(
            "DELETE",
            "/api/v1/me",
            json={"password": "correct horse battery staple"},
            headers=user.headers(),
        )
    finally:
        services.store = working
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["deleted"] is True and body["files_pending"] == 2
    assert "2 file(s) could not be deleted" in body["message"]
    assert client.get("/api/v1/me").status_code == 401
    assert finish_erasures(services.database, services.store) == 0
    assert generation_keys(services, user.user_id) == [(generation_id, None, None)]
