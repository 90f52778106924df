"""A backup taken while a real server signs users up and makes images restores whole."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
from tests.factories import PASSWORD, mailed_token, photo_bytes
from tests.serving import serve

from forkable.db import Database

from .conftest import SITE, Place, state_of


def _keep_busy(url: str, place: Place, stop: threading.Event, made: list[str]) -> None:
    """Sign up one user after another, each uploading a photo, until told to stop."""
    database = Database(place.database_url)
    reader = SimpleNamespace(database=database, settings=SimpleNamespace(data_dir=place.data_dir))
    try:
        number = 0
        while not stop.is_set():
            number += 1
            # Each "visitor" from its own address (the server trusts loopback's X-Forwarded-For),
            # so the sign-up limit per network does not stop the load.
            forwarded = {"x-forwarded-for": f"203.0.113.{number % 250 + 1}"}
            with httpx.Client(base_url=url, timeout=30, headers=forwarded) as client:
                response = client.post(
                    "/api/v1/auth/signup",
                    json={"email": f"busy{number}@example.com", "password": PASSWORD},
                )
                assert response.status_code == 201, response.text
                body = response.json()
                headers = {"x-csrf-token": body["csrf_token"]}
                token = mailed_token(reader, body["user"]["id"])  # type: ignore[arg-type]
                if token is not None:
                    verified = client.post("/api/v1/auth/verify-email", json={"token": token})
                    assert verified.status_code == 200, verified.text
                files = {"image": ("photo.jpg", photo_bytes(), "image/jpeg")}
                upload = client.post("/api/v1/generations", files=files, headers=headers)
                assert upload.status_code == 202, upload.text
                made.append(upload.json()["id"])
    finally:
        database.dispose()


def test_backup_while_serving_restores_with_every_file(
    database_url: str, target: Place, tmp_path: Path
) -> None:
    source = Place(database_url, tmp_path / "var")
    archives = [tmp_path / f"backup-{n}.tar.gz" for n in range(2)]
    stop = threading.Event()
    made: list[str] = []
    errors: list[BaseException] = []

    def busy() -> None:
        try:
            _keep_busy(server.url, source, stop, made)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    migrated = source.forkable("db", "upgrade")  # PostgreSQL servers wait for this
    assert migrated.returncode == 0, migrated.stderr
    with serve(SITE, source.data_dir, env={"FORKABLE_DATABASE_URL": database_url}) as server:
        worker = threading.Thread(target=busy)
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while len(made) < 3 and time.monotonic() < deadline and not errors:
                time.sleep(0.05)
            for archive in archives:
                result = source.forkable("backup", str(archive))
                assert result.returncode == 0, result.stderr
        finally:
            stop.set()
            worker.join(timeout=60)
    assert not errors, errors
    assert len(made) >= 3

    restored = target.forkable("restore", str(archives[-1]))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "ledger ok" in restored.stdout
    after = state_of(target)
    generations = after["generations"]
    assert isinstance(generations, list) and generations
    images = after["images"]
    assert isinstance(images, dict)
    # Every key a restored row names has its object; no object lies there without a row.
    assert all(data is not None for data in images.values())
    stored = {
        str(path.relative_to(target.data_dir / "media"))
        for path in (target.data_dir / "media").rglob("*")
        if path.is_file()
    }
    assert stored == set(images)
