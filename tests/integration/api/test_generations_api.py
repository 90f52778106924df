"""Generations through the API: failures refund once, uploads are checked, sites are apart."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from tests.factories import photo_bytes, sign_up, upload, wait_for

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.generations.models import Generation
from forkable.generations.runner import RunnerConfig
from forkable.generations.verify import verify_all
from forkable.providers.base import BLOCKED, DOWN, ProviderError, TransformRequest, TransformResult
from forkable.providers.resolver import Choice, ProviderResolver
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import Site, SiteRegistry


class FailingProvider:
    """A provider plugin whose service refuses everything, as a real one can."""

    name = "test:failing"

    def __init__(self, reason: str, retryable: bool = False) -> None:
        self.reason = reason
        self.retryable = retryable
        self.calls = 0

    def transform(self, request: TransformRequest) -> TransformResult:
        self.calls += 1
        raise ProviderError(self.reason, "refused by the test provider", retryable=self.retryable)


class FixedResolver(ProviderResolver):
    def __init__(self, settings: Settings, provider: FailingProvider) -> None:
        super().__init__(settings)
        self.provider = provider

    def for_site(self, site: Site) -> Choice:
        return Choice(self.provider, offline_preview=False)


def _client_with(
    registry: SiteRegistry, settings: Settings, provider: FailingProvider
) -> tuple[FastAPI, Services]:
    services = build_services(
        registry,
        settings,
        passwords=fast_passwords(),
        resolver=FixedResolver(settings, provider),
        runner_config=RunnerConfig(workers=1, lease_seconds=5, poll_seconds=0.05, max_attempts=3),
    )
    return create_app(registry, settings, services=services, migrate=True), services


@pytest.mark.parametrize(("reason", "retryable", "calls"), [(BLOCKED, False, 1), (DOWN, True, 3)])
def test_a_failed_generation_costs_nothing(
    registry: SiteRegistry, settings: Settings, reason: str, retryable: bool, calls: int
) -> None:
    provider = FailingProvider(reason, retryable)
    app, services = _client_with(registry, settings, provider)
    with TestClient(app, base_url="http://coloringbook.localhost") as client:
        user = sign_up(client)
        generation_id = upload(client, user).json()["id"]  # type: ignore[attr-defined]
        done = wait_for(client, generation_id)
        assert done["status"] == "failed"
        assert isinstance(done["error"], str) and "tokens were returned" in done["error"]
        assert "refused by the test provider" not in done["error"]  # no internals
        me = client.get("/api/v1/me").json()
        assert (me["balance"], me["held"]) == (3, 0)
        kinds = [e["kind"] for e in client.get("/api/v1/ledger").json()]
        assert kinds == ["generation_void", "generation_hold", "signup_bonus"]
    assert provider.calls == calls  # retryable errors are retried, others are not
    with services.database.session() as session:
        assert verify_all(session) == []
    services.database.dispose()


def test_styles_are_checked_and_used(client: TestClient) -> None:
    user = sign_up(client)
    bad = upload(client, user, style="glitter")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    good = upload(client, user, style="kids")
    assert good.status_code == 202  # type: ignore[attr-defined]
    done = wait_for(client, good.json()["id"])  # type: ignore[attr-defined]
    assert done["style"] == "kids" and done["status"] == "succeeded"
    assert client.get("/api/v1/me").json()["balance"] == 2


@pytest.mark.parametrize(
    ("body", "filename", "status"),
    [
        (b"", "empty.jpg", 422),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "x.svg", 415),
        (b"<!doctype html><html><body>hi</body></html>", "photo.png", 415),
    ],
)
def test_rejected_uploads_store_nothing_and_cost_nothing(
    client: TestClient, settings: Settings, body: bytes, filename: str, status: int
) -> None:
    user = sign_up(client)
    response = upload(client, user, body, filename=filename)
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.json()["error"]["message"]  # type: ignore[attr-defined]
    assert client.get("/api/v1/me").json()["balance"] == 3
    assert client.get("/api/v1/generations").json()["items"] == []
    media = settings.media_dir
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_oversized_upload_is_413(client: TestClient, settings: Settings) -> None:
    user = sign_up(client)
    big = b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024 + 10)
    response = upload(client, user, big)
    assert response.status_code == 413  # type: ignore[attr-defined]
    assert client.get("/api/v1/me").json()["balance"] == 3


def test_gps_exif_is_gone_from_the_stored_photo(client: TestClient, settings: Settings) -> None:
    image = Image.open(io.BytesIO(photo_bytes()))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 clockwise
    exif[0x8825] = {2: (51.0, 30.0, 0.0), 4: (0.0, 7.0, 0.0)}  # GPS latitude/longitude
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    user = sign_up(client)
    generation_id = upload(client, user, buffer.getvalue()).json()["id"]  # type: ignore[attr-defined]
    wait_for(client, generation_id)
    stored = client.get(f"/api/v1/generations/{generation_id}/input")
    stored_image = Image.open(io.BytesIO(stored.content))
    assert not stored_image.getexif()
    assert "exif" not in stored_image.info
    assert stored_image.size == (image.height, image.width)  # orientation applied
    result = Image.open(
        io.BytesIO(client.get(f"/api/v1/generations/{generation_id}/result").content)
    )
    assert not result.getexif() and result.size == stored_image.size
    on_disk = list(settings.media_dir.rglob(f"{generation_id}-input*"))
    assert len(on_disk) == 1 and b"Exif" not in on_disk[0].read_bytes()


def test_rate_limit_per_user(client: TestClient, services: Services) -> None:
    from forkable.ledger.book import credit
    from forkable.ledger.models import EntryKind

    user = sign_up(client)
    with services.database.transaction() as session:
        credit(
            session,
            site_id="coloringbook",
            user_id=user.user_id,
            amount=20,
            kind=EntryKind.ADMIN_GRANT,
            ref="grant:rate",
        )
    small = photo_bytes(size=48)
    for _ in range(6):
        assert upload(client, user, small).status_code == 202  # type: ignore[attr-defined]
    limited = upload(client, user, small)
    assert limited.status_code == 429  # type: ignore[attr-defined]
    assert int(limited.headers["retry-after"]) > 0  # type: ignore[attr-defined]


def test_not_enough_tokens_is_402(client: TestClient) -> None:
    user = sign_up(client)
    small = photo_bytes(size=48)
    for _ in range(3):
        assert upload(client, user, small).status_code == 202  # type: ignore[attr-defined]
    refused = upload(client, user, small)
    assert refused.status_code == 402  # type: ignore[attr-defined]
    assert "Buy more tokens" in refused.json()["error"]["message"]  # type: ignore[attr-defined]


def test_pagination_newest_first(client: TestClient, services: Services) -> None:
    from forkable.ledger.book import credit
    from forkable.ledger.models import EntryKind

    user = sign_up(client)
    with services.database.transaction() as session:
        credit(
            session,
            site_id="coloringbook",
            user_id=user.user_id,
            amount=10,
            kind=EntryKind.ADMIN_GRANT,
            ref="grant:pages",
        )
    ids = [upload(client, user, photo_bytes(size=48)).json()["id"] for _ in range(5)]  # type: ignore[attr-defined]
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/v1/generations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert client.get("/api/v1/generations?cursor=%%%").status_code == 422


@pytest.fixture
def two_site_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_credentials_of_site_a_get_404_from_site_b(
    two_site_client: TestClient, services: Services
) -> None:
    client = two_site_client
    a, b = "coloringbook.localhost", "pencilsketch.localhost"
    owner_b = sign_up(client, "bea@example.com", host=b)
    b_id = client.post(
        "/api/v1/generations",
        files={"image": ("p.jpg", photo_bytes(), "image/jpeg")},
        headers={"host": b, **owner_b.headers()},
    ).json()["id"]
    client.cookies.clear()

    user_a = sign_up(client, "ann@example.com", host=a)
    key_a = client.post(
        "/api/v1/api-keys", json={"name": "a"}, headers={"host": a, **user_a.headers()}
    ).json()["key"]
    # The session cookie of site A, sent to site B:
    for path in (
        f"/api/v1/generations/{b_id}",
        f"/api/v1/generations/{b_id}/result",
        f"/api/v1/generations/{b_id}/input",
    ):
        assert client.get(path, headers={"host": b}).status_code == 404
        assert (
            client.get(path, headers={"host": b, "authorization": f"Bearer {key_a}"}).status_code
            == 404
        )
    assert client.get("/api/v1/me", headers={"host": b}).status_code == 401
    assert client.get("/api/v1/generations", headers={"host": b}).status_code == 401
    # and the same e-mail on site B is a different account
    assert sign_up(client, "ann@example.com", host=b).user_id != user_a.user_id
    with services.database.session() as session:
        rows = list(session.scalars(select(Generation)))
    assert [(g.site_id, g.user_id) for g in rows] == [("pencilsketch", owner_b.user_id)]
