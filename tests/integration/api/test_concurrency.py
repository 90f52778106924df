"""Tokens are exactly-once under concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.factories import PASSWORD, photo_bytes, verify_by_mail_async
from tests.serving import run_async, serve_app_in_thread

from forkable.generations.verify import verify_all
from forkable.ledger.book import credit
from forkable.ledger.models import EntryKind
from forkable.services import Services

HOST = {"host": "coloringbook.localhost"}


@pytest.fixture
def sites_dir(sites_dir: Path) -> Path:
    # The reference site allows 6 generations a minute; these tests are about tokens.
    manifest = sites_dir / "coloringbook" / "site.toml"
    text = manifest.read_text().replace(
        "generations_per_minute = 6", "generations_per_minute = 600"
    )
    manifest.write_text(text)
    return sites_dir


async def _signed_in(
    base: str, email: str, services: Services
) -> tuple[httpx.AsyncClient, str, int]:
    client = httpx.AsyncClient(base_url=base, headers=HOST, timeout=60)
    response = await client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    await verify_by_mail_async(client, services, body["user"]["id"])
    return client, body["csrf_token"], body["user"]["id"]


def _grant(services: Services, user_id: int, amount: int) -> None:
    with services.database.transaction() as session:
        credit(
            session,
            site_id="coloringbook",
            user_id=user_id,
            amount=amount,
            kind=EntryKind.ADMIN_GRANT,
            ref=f"grant:test-{user_id}",
        )


async def _wait_idle(client: httpx.AsyncClient, timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        me = (await client.get("/api/v1/me")).json()
        if me["held"] == 0:
            return me  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise TimeoutError("generations did not finish")


def test_30_concurrent_submits_with_7_tokens(app: FastAPI, services: Services) -> None:
    photo = photo_bytes(size=64)

    async def scenario(base: str) -> None:
        client, csrf, user_id = await _signed_in(base, "race@example.com", services)
        _grant(services, user_id, 4)  # 3 from sign-up + 4 = 7

        async def submit() -> int:
            response = await client.post(
                "/api/v1/generations",
                files={"image": ("p.jpg", photo, "image/jpeg")},
                headers={"x-csrf-token": csrf},
            )
            return response.status_code

        statuses = await asyncio.gather(*(submit() for _ in range(30)))
        assert sorted(statuses).count(202) == 7, statuses
        assert sorted(statuses).count(402) == 23, statuses
        me = await _wait_idle(client)
        assert (me["balance"], me["held"]) == (0, 0)
        listed = (await client.get("/api/v1/generations?limit=100")).json()["items"]
        assert len(listed) == 7
        assert all(item["status"] == "succeeded" for item in listed)
        await client.aclose()

    with serve_app_in_thread(app) as base:
        run_async(scenario(base))
    with services.database.session() as session:
        assert verify_all(session) == []


def test_same_idempotency_key_five_times_at_once(app: FastAPI, services: Services) -> None:
    photo = photo_bytes(size=64)

    async def scenario(base: str) -> None:
        client, csrf, _user_id = await _signed_in(base, "twice@example.com", services)

        async def submit() -> httpx.Response:
            return await client.post(
                "/api/v1/generations",
                files={"image": ("p.jpg", photo, "image/jpeg")},
                headers={"x-csrf-token": csrf, "idempotency-key": "click-1"},
            )

        responses = await asyncio.gather(*(submit() for _ in range(5)))
        assert {r.status_code for r in responses} == {202}
        assert len({r.json()["id"] for r in responses}) == 1
        me = await _wait_idle(client)
        assert me["balance"] == 2  # one generation paid, once
        ledger = (await client.get("/api/v1/ledger")).json()
        assert [e["kind"] for e in ledger].count("generation_hold") == 1
        await client.aclose()

    with serve_app_in_thread(app) as base:
        run_async(scenario(base))
    with services.database.session() as session:
        assert verify_all(session) == []
