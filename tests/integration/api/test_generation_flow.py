"""The core loop: sign up, upload, follow, fetch the result, pay exactly the cost."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from PIL import Image
from tests.factories import photo_bytes, sign_up, upload, wait_for


def test_sign_up_upload_and_get_a_coloring_page(client: TestClient) -> None:
    user = sign_up(client)
    assert client.get("/api/v1/me").json()["balance"] == 3

    response = upload(client, user)
    assert response.status_code == 202, response.text  # type: ignore[attr-defined]
    submitted = response.json()  # type: ignore[attr-defined]
    # "running" when an idle worker took it straight from the submit transaction.
    assert submitted["status"] in ("queued", "running") and submitted["cost"] == 1

    done = wait_for(client, submitted["id"])
    assert done["status"] == "succeeded", done
    assert done["error"] is None
    result = client.get(str(done["result_url"]))
    assert result.status_code == 200
    assert result.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(result.content))
    assert image.mode == "1"  # pure black-and-white line art, stored as a 1-bit PNG
    source = Image.open(io.BytesIO(photo_bytes()))
    assert image.size == source.size

    me = client.get("/api/v1/me").json()
    assert (me["balance"], me["held"]) == (2, 0)
    kinds = [entry["kind"] for entry in client.get("/api/v1/ledger").json()]
    assert kinds == ["generation_capture", "generation_hold", "signup_bonus"]


def test_download_and_delete(client: TestClient) -> None:
    user = sign_up(client)
    generation_id = upload(client, user).json()["id"]  # type: ignore[attr-defined]
    wait_for(client, generation_id)
    download = client.get(f"/api/v1/generations/{generation_id}/result?download=1")
    assert download.headers["content-disposition"].startswith("attachment; filename=")

    deleted = client.delete(f"/api/v1/generations/{generation_id}", headers=user.headers())
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/generations/{generation_id}").status_code == 404
    assert client.get(f"/api/v1/generations/{generation_id}/result").status_code == 404
    assert client.get("/api/v1/generations").json()["items"] == []
