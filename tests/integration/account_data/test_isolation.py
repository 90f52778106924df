"""No route takes a user id: one user's session or key never reaches another's data,
on the same site or on another site of the same server."""

from __future__ import annotations

import io
import json
import zipfile

from fastapi.testclient import TestClient
from tests.factories import PASSWORD, sign_up, upload, wait_for

OTHER_HOST = "pencilsketch.localhost"


def _account(answer_content: bytes) -> dict[str, object]:
    account: dict[str, object] = json.loads(
        zipfile.ZipFile(io.BytesIO(answer_content)).read("account.json")
    )
    return account


def test_each_user_exports_and_deletes_only_their_own(client: TestClient) -> None:
    ada = sign_up(client, "ada@example.com")
    ada_key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=ada.headers())
    generation_id = upload(client, ada).json()["id"]  # type: ignore[attr-defined]
    assert wait_for(client, generation_id)["status"] == "succeeded"
    ada_cookies = dict(client.cookies)

    # Bob, on the same site.
    client.cookies.clear()
    bob = sign_up(client, "bob@example.com")
    exported = client.get("/api/v1/me/export")
    account = _account(exported.content)
    assert account["profile"]["email"] == "bob@example.com"  # type: ignore[index]
    assert account["generations"] == []
    assert b"ada@example.com" not in exported.content
    # Bob cannot name Ada: no route takes another's id, and query strings change nothing.
    for path in (f"/api/v1/me/export?user_id={ada.user_id}", f"/api/v1/me/{ada.user_id}"):
        answer = client.get(path)
        assert answer.status_code in (200, 404, 405)
        assert b"ada@example.com" not in answer.content
    assert client.request(
        "DELETE",
        f"/api/v1/me/{ada.user_id}",
        json={"password": PASSWORD},
        headers=bob.headers(),
    ).status_code in (404, 405)
    # Bob's session can only ever name Bob's account; a wrong password deletes nothing.
    refused = client.request(
        "DELETE", "/api/v1/me", json={"password": PASSWORD + " not"}, headers=bob.headers()
    )
    assert refused.status_code == 403

    # Another site on the same server: Ada's cookie and key are nobody there.
    client.cookies.clear()
    for name, value in ada_cookies.items():
        client.cookies.set(name, value)
    elsewhere = client.get("/api/v1/me/export", headers={"host": OTHER_HOST})
    assert elsewhere.status_code == 401
    with_key = client.get(
        "/api/v1/me/export",
        headers={"host": OTHER_HOST, "authorization": f"Bearer {ada_key.json()['key']}"},
    )
    assert with_key.status_code == 401
    gone = client.request(
        "DELETE",
        "/api/v1/me",
        json={"password": PASSWORD},
        headers={"host": OTHER_HOST, **ada.headers()},
    )
    assert gone.status_code == 401
    # Ada is untouched, and her export is hers.
    mine = _account(client.get("/api/v1/me/export").content)
    assert mine["profile"]["email"] == "ada@example.com"  # type: ignore[index]
    assert [g["id"] for g in mine["generations"]] == [generation_id]  # type: ignore[attr-defined]
