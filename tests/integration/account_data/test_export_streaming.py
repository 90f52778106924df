"""Over real HTTP, the export leaves while it is being made: the first bytes reach the client
before the last file is read, and the store is read one object at a time."""

from __future__ import annotations

import io
import json
import os
import threading
import zipfile

import httpx
from fastapi import FastAPI
from tests.factories import PASSWORD
from tests.serving import serve_app_in_thread

from forkable.accounts.service import create_user
from forkable.generations.models import Generation, HoldState, Status
from forkable.services import Services
from forkable.storage import MediaStore

IMAGES = 40
SIZE = 256 * 1024


class GatedStore:
    """The app's store; the read of the last file waits until the client has bytes in hand."""

    def __init__(self, store: MediaStore, last_key: str) -> None:
        self.store = store
        self.last_key = last_key
        self.client_has_bytes = threading.Event()
        self.reads = 0
        self.open_reads = 0
        self.most_open = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self._lock:
            self.reads += 1
            self.open_reads += 1
            self.most_open = max(self.most_open, self.open_reads)
        try:
            if key == self.last_key and not self.client_has_bytes.wait(timeout=15):
                raise RuntimeError("the client had nothing before the last file was read")
            return self.store.get(key)
        finally:
            with self._lock:
                self.open_reads -= 1

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.store.put(key, data, content_type)

    def delete(self, key: str) -> None:
        self.store.delete(key)

    def check(self) -> None:
        self.store.check()


def test_the_export_of_many_images_streams(app: FastAPI, services: Services) -> None:
    # The server's start migrates the database: the rows come after it.
    with serve_app_in_thread(app) as url, httpx.Client(base_url=url) as client:
        gated = _many_images(services)
        login = client.post(
            "/api/v1/auth/login",
            json={"email": "many@example.com", "password": PASSWORD},
            headers={"host": "coloringbook.localhost"},
        )
        assert login.status_code == 200, login.text
        body = io.BytesIO()
        chunks = 0
        with client.stream(
            "GET", "/api/v1/me/export", headers={"host": "coloringbook.localhost"}
        ) as answer:
            assert answer.status_code == 200
            assert "content-length" not in answer.headers
            for chunk in answer.iter_raw():
                body.write(chunk)
                chunks += 1
                gated.client_has_bytes.set()

    assert gated.most_open == 1
    assert chunks >= IMAGES // 4
    archive = zipfile.ZipFile(body)
    account = json.loads(archive.read("account.json"))
    assert all(item["files"]["result"]["included"] for item in account["generations"])
    assert len([n for n in archive.namelist() if n.startswith("results/")]) == IMAGES


def _many_images(services: Services) -> GatedStore:
    """A user with IMAGES results in the store; the store gated on the last one."""
    user = create_user(
        services.database,
        services.passwords,
        site_id="coloringbook",
        email="many@example.com",
        password=PASSWORD,
        signup_bonus=0,
    )
    keys = []
    with services.database.transaction() as session:
        for index in range(IMAGES):
            generation_id = f"{index:032x}"
            key = f"coloringbook/{generation_id[:2]}/{generation_id}-result-1.png"
            services.store.put(key, os.urandom(SIZE), "image/png")
            keys.append(key)
            session.add(
                Generation(
                    id=generation_id,
                    site_id="coloringbook",
                    user_id=user.id,
                    status=Status.SUCCEEDED,
                    hold_state=HoldState.CAPTURED,
                    cost=0,
                    output_key=key,
                )
            )
    gated = GatedStore(services.store, keys[-1])
    services.store = gated
    return gated
