"""Back up a site with users, purchases, entries and images; restore it elsewhere, byte for byte."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from fastapi.testclient import TestClient
from tests.factories import photo_bytes, sign_up, upload, wait_for

from forkable.db import Database
from forkable.db.migrate import current_revision, head_revision
from forkable.settings import Settings

from .conftest import Place, state_of


def _make_history(client: TestClient) -> None:
    """Two users, a demo purchase, and finished generations with their photos and results."""
    ada = sign_up(client, "ada@example.com")
    started = client.post("/api/v1/checkout", json={"pack_id": "family"}, headers=ada.headers())
    assert started.status_code == 201, started.text
    purchase_id = started.json()["purchase_id"]
    completed = client.post(f"/api/v1/demo/purchases/{purchase_id}/complete", headers=ada.headers())
    assert completed.status_code == 200, completed.text
    for name in ("astronaut", "coffee"):
        response = upload(client, ada, photo_bytes(name))
        assert response.status_code == 202, response.text  # type: ignore[attr-defined]
        body = wait_for(client, response.json()["id"])  # type: ignore[attr-defined]
        assert body["status"] == "succeeded", body
    client.cookies.clear()
    grace = sign_up(client, "grace@example.com")
    response = upload(client, grace, photo_bytes("chelsea"))
    assert wait_for(client, response.json()["id"])["status"] == "succeeded"  # type: ignore[attr-defined]


def test_restore_reproduces_users_balances_generations_and_images(
    client: TestClient, settings: Settings, target: Place, tmp_path: Path
) -> None:
    _make_history(client)
    source = Place(settings.resolved_database_url, settings.data_dir)
    before = state_of(source)
    assert len(before["users"]) == 2  # type: ignore[arg-type]
    assert len(before["purchases"]) == 1  # type: ignore[arg-type]
    images = before["images"]
    assert isinstance(images, dict) and len(images) == 6 and all(images.values())

    archive = tmp_path / "backups" / "site.tar.gz"
    made = source.forkable("backup", str(archive))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"backup {archive}: 7 members, ")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = json.loads(handle.read())
    assert names[0] == "manifest.json"
    assert sorted(f"media/{key}" for key in images) == sorted(
        name for name in names if name.startswith("media/")
    )
    assert manifest["revision"] and manifest["missing"] == []

    restored = target.forkable("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "ledger ok" in restored.stdout
    assert state_of(target) == before
    verified = target.forkable("ledger", "verify")
    assert verified.returncode == 0, verified.stderr

    # Restoring twice is refused: the target now holds data.
    again = target.forkable("restore", str(archive))
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "not empty" in again.stderr


def test_an_archive_of_an_older_schema_is_upgraded_on_restore(
    database_url: str, target: Place, tmp_path: Path
) -> None:
    """A copy taken before `forkable db upgrade` restores into the running release's schema."""
    source = Place(database_url, tmp_path / "var")
    older = source.forkable("db", "upgrade", "0007")
    assert older.returncode == 0, older.stderr
    archive = tmp_path / "before-upgrade.tar.gz"
    made = source.forkable("backup", str(archive))
    assert made.returncode == 0, made.stderr
    assert made.stdout.rstrip().endswith("revision 0007")
    restored = target.forkable("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "(archived at 0007)" in restored.stdout
    database = Database(target.database_url)
    try:
        assert current_revision(database) == head_revision(database)
    finally:
        database.dispose()
