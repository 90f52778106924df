"""On a serverless host: generations run inside their request, media lives in the database,
and a cron call reaps expired leases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.factories import open_policy, sign_up, upload

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.db.types import utcnow
from forkable.generations.models import Generation
from forkable.generations.runner import RunnerConfig
from forkable.generations.verify import verify_all
from forkable.services import Services
from forkable.settings import Settings, SettingsError, load_settings
from forkable.sites import SiteRegistry
from forkable.storage.database import MediaObject


@pytest.fixture
def serverless(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], database_url: str
) -> Iterator[tuple[TestClient, Services]]:
    settings = settings_factory(
        database_url=database_url, serverless=True, media="database", cron_secret="cron-s3cret"
    )
    services = build_services(
        registry,
        settings,
        passwords=fast_passwords(),
        runner_config=RunnerConfig(workers=1, lease_seconds=30, max_attempts=2),
    )
    app = create_app(registry, settings, services=services, migrate=True)
    with TestClient(app, base_url="http://coloringbook.localhost") as client:
        yield client, services
    services.database.dispose()


def test_the_generation_is_made_inside_the_submit_request(
    serverless: tuple[TestClient, Services], settings: Settings
) -> None:
    client, services = serverless
    user = sign_up(client)
    response = upload(client, user)
    assert response.status_code == 202  # type: ignore[attr-defined]
    assert response.json()["status"] == "succeeded"  # type: ignore[attr-defined]
    generation_id = response.json()["id"]  # type: ignore[attr-defined]
    result = client.get(f"/api/v1/generations/{generation_id}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert client.get("/api/v1/me").json()["balance"] == 2
    with services.database.session() as session:
        keys = list(session.scalars(select(MediaObject.key)))
    assert len(keys) == 2 and all(k.startswith("coloringbook/") for k in keys)
    assert not services.settings.media_dir.exists()  # nothing on the function's disk
    assert (
        client.delete(f"/api/v1/generations/{generation_id}", headers=user.headers()).status_code
        == 204
    )
    with services.database.session() as session:
        assert list(session.scalars(select(MediaObject.key))) == []


def test_cron_maintenance_needs_the_secret(serverless: tuple[TestClient, Services]) -> None:
    client, _services = serverless
    assert client.get("/api/v1/internal/maintenance").status_code == 401
    bad = client.get("/api/v1/internal/maintenance", headers={"authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_cron_maintenance_runs_queued_work(serverless: tuple[TestClient, Services]) -> None:
    client, services = serverless
    from tests.factories import photo_bytes

    from forkable.accounts.service import Principal
    from forkable.generations.service import submit
    from forkable.generations.uploads import validate_image

    user = sign_up(client)
    image = validate_image(photo_bytes(), max_bytes=10_000_000)
    principal = Principal(user.user_id, "coloringbook", user.email, False, "session")
    made = submit(
        services.database,
        services.store,
        principal,
        image=image,
        style=None,
        policy=open_policy(),
        idempotency_key=None,
    )
    with services.database.transaction() as session:
        session.execute(
            update(Generation)
            .where(Generation.id == made.generation.id)
            .values(
                status="running",
                lease_owner="gone",
                attempts=1,
                lease_expires_at=utcnow() - timedelta(seconds=1),
            )
        )
    answer = client.get(
        "/api/v1/internal/maintenance", headers={"authorization": "Bearer cron-s3cret"}
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "requeued": 1,
        "failed": 0,
        "processed": 1,
        "photos_deleted": 0,
        "results_deleted": 0,
        "mail_sent": 1,  # the verification mail of the sign-up (no deliverer runs in between)
    }
    assert client.get(f"/api/v1/generations/{made.generation.id}").json()["status"] == "succeeded"
    with services.database.session() as session:
        assert verify_all(session) == []


def test_serverless_production_guard() -> None:
    settings = load_settings(
        {"VERCEL": "1", "FORKABLE_ENV": "production", "FORKABLE_MEDIA": "local"}
    )
    with pytest.raises(SettingsError) as caught:
        from forkable.settings import check_production

        check_production(settings)
    problems = "\n".join(caught.value.problems)
    assert "FORKABLE_MEDIA=database" in problems
    assert "SQLite on a serverless host" in problems
    assert load_settings({"VERCEL": "1"}).media == "database"
