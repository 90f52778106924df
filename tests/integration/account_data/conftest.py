"""A site served with its media in a local folder or an S3 bucket, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.support.s3 import S3Bucket, s3, s3_bucket  # noqa: F401  (fixtures)

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.generations.models import Generation
from forkable.generations.runner import RunnerConfig
from forkable.generations.verify import verify_all
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import SiteRegistry

HOST = "http://coloringbook.localhost"


@dataclass
class Served:
    client: TestClient
    services: Services


@pytest.fixture(params=["folder", "s3"])
def served(
    request: pytest.FixtureRequest,
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> Iterator[Served]:
    """The example sites with their media in a folder or a bucket."""
    extra: dict[str, object] = {}
    if request.param == "s3":
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        extra = {"media_url": f"s3://{bucket.name}/media", "aws_environment": bucket.environ()}
    settings = settings_factory(database_url=database_url, **extra)
    services = build_services(
        registry,
        settings,
        passwords=fast_passwords(),
        runner_config=RunnerConfig(workers=2, lease_seconds=5, poll_seconds=0.05),
    )
    app = create_app(registry, settings, services=services, migrate=True)
    try:
        with TestClient(app, base_url=HOST) as client:
            yield Served(client, services)
    finally:
        services.runner.stop()
        services.database.dispose()


def generation_keys(services: Services, user_id: int) -> list[tuple[str, str | None, str | None]]:
    with services.database.session() as session:
        rows = session.execute(
            select(Generation.id, Generation.input_key, Generation.output_key)
            .where(Generation.user_id == user_id)
            .order_by(Generation.created_at)
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def assert_ledger_clean(services: Services) -> None:
    with services.database.session() as session:
        assert verify_all(session, None) == []
