"""What a visitor sees once the site's retention rule has deleted an image's files."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from tests.factories import sign_up, upload, wait_for

from forkable.db.types import utcnow
from forkable.generations.retention import expire_media
from forkable.services import Services


def test_an_expired_result_answers_410_and_the_generation_stays_listed(
    client: TestClient, services: Services
) -> None:
    user = sign_up(client)
    submitted = upload(client, user).json()  # type: ignore[attr-defined]
    done = wait_for(client, submitted["id"])
    assert done["status"] == "succeeded", done
    result_url, input_url = str(done["result_url"]), str(done["input_url"])
    assert client.get(result_url).status_code == 200

    # The example sites keep the defaults: photos 30 days, results 365.
    report = expire_media(
        services.database, services.store, services.sites, now=utcnow() + timedelta(days=366)
    )
    assert report.sites["coloringbook"].results_deleted == 1

    for url in (result_url, f"{result_url}?download=1"):
        gone = client.get(url)
        assert gone.status_code == 410
        assert gone.json() == {
            "error": {
                "code": "gone",
                "message": "This image was deleted 365 days after it was made, "
                "as this site's retention rule says.",
            }
        }
    photo = client.get(input_url)
    assert photo.status_code == 410
    assert "30 days after its image was made" in photo.json()["error"]["message"]

    # The generation itself stays, succeeded, with no result to fetch.
    after = client.get(f"/api/v1/generations/{submitted['id']}").json()
    assert after["status"] == "succeeded"
    assert after["result_url"] is None
    assert after["input_url"] is None
    [listed] = client.get("/api/v1/generations").json()["items"]
    assert (listed["id"], listed["result_url"]) == (submitted["id"], None)


def test_an_expired_result_is_still_hidden_from_others(
    client: TestClient, services: Services
) -> None:
    owner = sign_up(client)
    submitted = upload(client, owner).json()  # type: ignore[attr-defined]
    assert wait_for(client, submitted["id"])["status"] == "succeeded"
    expire_media(
        services.database, services.store, services.sites, now=utcnow() + timedelta(days=366)
    )
    client.cookies.clear()
    sign_up(client, email="eve@example.com")

    stranger = client.get(f"/api/v1/generations/{submitted['id']}/result")
    assert stranger.status_code == 404


def test_the_openapi_document_names_the_410(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "410" in paths["/api/v1/generations/{generation_id}/result"]["get"]["responses"]
    assert "410" in paths["/api/v1/generations/{generation_id}/input"]["get"]["responses"]
