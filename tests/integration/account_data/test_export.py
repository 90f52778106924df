"""`GET /api/v1/me/export`: the zip opens, its JSON is the database's, its files the stored bytes."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import select
from tests.factories import photo_bytes, sign_up, upload, wait_for

from forkable.ledger.models import LedgerEntry

from .conftest import Served, generation_keys


def _export(served: Served, headers: dict[str, str] | None = None) -> zipfile.ZipFile:
    response = served.client.get("/api/v1/me/export", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="coloringbook-export-')
    assert disposition.endswith('.zip"')
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_the_export_holds_the_rows_and_the_stored_files(served: Served) -> None:
    client, services = served.client, served.services
    user = sign_up(client)
    made = []
    for name in ("astronaut", "chelsea"):
        submitted = upload(client, user, photo_bytes(name))
        assert submitted.status_code == 202, submitted.text  # type: ignore[attr-defined]
        made.append(submitted.json()["id"])  # type: ignore[attr-defined]
    for generation_id in made:
        assert wait_for(client, generation_id)["status"] == "succeeded"
    started = client.post("/api/v1/checkout", json={"pack_id": "starter"}, headers=user.headers())
    assert started.status_code == 201, started.text
    # One image deleted by its owner: listed, without files.
    deleted = client.delete(f"/api/v1/generations/{made[1]}", headers=user.headers())
    assert deleted.status_code == 204

    archive = _export(served)
    assert archive.testzip() is None
    account = json.loads(archive.read("account.json"))

    assert account["profile"]["email"] == user.email
    assert account["profile"]["id"] == user.user_id
    with services.database.session() as session:
        entries = list(
            session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.user_id == user.user_id)
                .order_by(LedgerEntry.id)
            )
        )
    assert [
        (e["id"], e["kind"], e["amount"], e["balance_after"], e["ref"]) for e in account["ledger"]
    ] == [(e.id, e.kind, e.amount, e.balance_after, e.ref) for e in entries]
    me = client.get("/api/v1/me").json()
    assert account["balance"]["available"] == me["balance"]
    [purchase] = account["purchases"]
    assert purchase["id"] == started.json()["purchase_id"]
    assert purchase["pack_id"] == "starter" and purchase["amount_cents"] > 0

    by_id = {item["id"]: item for item in account["generations"]}
    assert set(by_id) == set(made)
    kept, gone = by_id[made[0]], by_id[made[1]]
    assert kept["status"] == "succeeded" and kept["cost"] == 1 and kept["created_at"]
    assert gone["deleted_at"] and gone["files"] == {
        "photo": {"included": False, "why": "deleted"},
        "result": {"included": False, "why": "deleted"},
    }

    [(_, photo_key, result_key)] = [k for k in generation_keys(services, user.user_id) if k[1]]
    assert photo_key and result_key
    photo_path = kept["files"]["photo"]["path"]
    result_path = kept["files"]["result"]["path"]
    assert photo_path.startswith("photos/") and result_path == f"results/{made[0]}.png"
    assert archive.read(photo_path) == services.store.get(photo_key)
    assert archive.read(result_path) == services.store.get(result_key)
    assert sorted(archive.namelist()) == sorted(["account.json", photo_path, result_path])


def test_a_file_gone_from_the_store_is_listed_not_fatal(served: Served) -> None:
    client, services = served.client, served.services
    user = sign_up(client)
    generation_id = upload(client, user).json()["id"]  # type: ignore[attr-defined]
    assert wait_for(client, generation_id)["status"] == "succeeded"
    [(_, photo_key, _result)] = generation_keys(services, user.user_id)
    assert photo_key is not None
    services.store.delete(photo_key)  # as if an operator or a crash lost it

    archive = _export(served)
    [item] = json.loads(archive.read("account.json"))["generations"]
    assert item["files"]["photo"] == {"included": False, "why": "expired"}
    assert item["files"]["result"]["included"] is True
    assert [name for name in archive.namelist() if name.startswith("photos/")] == []


def test_an_api_key_may_export(served: Served) -> None:
    client = served.client
    user = sign_up(client)
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=user.headers()).json()
    client.cookies.clear()
    archive = _export(served, {"authorization": f"Bearer {key['key']}"})
    assert json.loads(archive.read("account.json"))["profile"]["email"] == user.email


def test_the_export_needs_a_signed_in_user(served: Served) -> None:
    answer = served.client.get("/api/v1/me/export")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
