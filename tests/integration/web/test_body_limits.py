"""Request bodies are capped per route: 413 in the error shape, nothing read past the cap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.factories import photo_bytes, sign_up, upload

from forkable.accounts.models import ApiKey
from forkable.services import Services
from forkable.web.body_limits import DEFAULT_BODY_LIMIT, ROUTE_BODY_LIMITS, WEBHOOK_BODY_LIMIT

CHUNK = 64 * 1024
HUNDRED_MB = 100 * 1024 * 1024


class CountedBody:
    """A request body made chunk by chunk as the server asks for it, counting what it gave."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.given = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.given < self.total:
            self.given += CHUNK
            yield b"x" * CHUNK


def _send(app: FastAPI, path: str, body: CountedBody, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://coloringbook.localhost"
        ) as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(go())


def _too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert response.headers["connection"] == "close"


def test_a_declared_length_over_the_cap_is_refused_before_a_byte_is_read(app: FastAPI) -> None:
    body = CountedBody(HUNDRED_MB)
    headers = {"content-type": "application/json", "content-length": str(HUNDRED_MB)}
    response = _send(app, "/api/v1/auth/login", body, headers)
    _too_large(response)
    assert "64 KiB" in response.json()["error"]["message"]
    assert body.given == 0


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/api/v1/auth/login", DEFAULT_BODY_LIMIT), ("/api/v1/webhooks/stripe", WEBHOOK_BODY_LIMIT)],
)
def test_a_body_without_a_length_is_refused_once_it_passes_the_cap(
    app: FastAPI, path: str, limit: int
) -> None:
    body = CountedBody(HUNDRED_MB)  # sent chunked: no Content-Length
    response = _send(app, path, body, {"content-type": "application/json"})
    _too_large(response)
    # Read up to the cap and one chunk past it: the other 99 MB were never made.
    assert body.given == limit + CHUNK


def test_json_routes_take_bodies_up_to_the_cap(client: TestClient) -> None:
    padding = "x" * (DEFAULT_BODY_LIMIT - 100)
    body = json.dumps({"email": "ada@example.com", "password": "p", "padding": padding})
    assert len(body) <= DEFAULT_BODY_LIMIT
    headers = {"content-type": "application/json"}
    answered = client.post("/api/v1/auth/login", content=body, headers=headers)
    assert answered.status_code == 401  # read and checked: wrong credentials


def test_an_oversized_body_changes_nothing(client: TestClient, services: Services) -> None:
    user = sign_up(client)
    name = "k" * (DEFAULT_BODY_LIMIT + 1)
    response = client.post("/api/v1/api-keys", json={"name": name}, headers=user.headers())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    with services.database.session() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_the_webhook_takes_more_than_the_default_cap(client: TestClient) -> None:
    body = b"{" + b" " * (DEFAULT_BODY_LIMIT * 4) + b"}"
    response = client.post("/api/v1/webhooks/stripe", content=body)
    assert response.status_code == 404  # read, then: webhooks are not configured here
    assert response.json()["error"]["code"] == "not_found"


def test_uploads_are_capped_by_their_site_not_by_the_json_cap(client: TestClient) -> None:
    user = sign_up(client)
    photo = photo_bytes(size=1024, fmt="PNG")
    assert len(photo) > DEFAULT_BODY_LIMIT
    response = upload(client, user, photo, filename="photo.png")
    assert response.status_code == 202, response.text  # type: ignore[attr-defined]


def test_form_pages_get_a_page_not_json(client: TestClient) -> None:
    response = client.post(
        "/admin/users/1/grant",
        content=b"amount=" + b"1" * (DEFAULT_BODY_LIMIT + 1),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "accept": "text/html",
        },
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")


def test_the_routes_with_their_own_caps_exist(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for method, path in ROUTE_BODY_LIMITS:
        assert method.lower() in paths[path]
