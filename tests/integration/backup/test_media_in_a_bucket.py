"""A site whose media live in S3: the backup carries the objects, restore puts them in a new bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from fastapi.testclient import TestClient
from tests.factories import sign_up, upload, wait_for
from tests.support.s3 import S3Bucket, S3Server, new_bucket, s3, s3_bucket

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.generations.runner import RunnerConfig
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.storage.s3 import S3MediaStore, s3_client

from .conftest import Place, state_of

__all__ = ["s3", "s3_bucket"]  # the fixtures, for pytest

PREFIX = "site-media"


def _bucket_place(database_url: str, data_dir: Path, bucket: S3Bucket) -> Place:
    env = {"FORKABLE_MEDIA_URL": f"s3://{bucket.name}/{PREFIX}", **bucket.environ()}
    return Place(database_url, data_dir, extra_env=tuple(env.items()))


def _store(bucket: S3Bucket) -> S3MediaStore:
    return S3MediaStore(s3_client(bucket.environ()), bucket=bucket.name, prefix=PREFIX)


def _served(registry: SiteRegistry, settings: Settings) -> Iterator[TestClient]:
    services = build_services(
        registry,
        settings,
        passwords=fast_passwords(),
        runner_config=RunnerConfig(workers=1, lease_seconds=5, poll_seconds=0.05),
    )
    app = create_app(registry, settings, services=services, migrate=True)
    try:
        with TestClient(app, base_url="http://coloringbook.localhost") as client:
            yield client
    finally:
        services.runner.stop()
        services.database.dispose()


def test_media_in_a_bucket_travel_through_the_archive(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
    empty_database_url: str,
    s3: S3Server,
    s3_bucket: S3Bucket,
    tmp_path: Path,
) -> None:
    settings = settings_factory(
        database_url=database_url,
        media_url=f"s3://{s3_bucket.name}/{PREFIX}",
        aws_environment=s3_bucket.environ(),
    )
    for client in _served(registry, settings):
        user = sign_up(client)
        response = upload(client, user)
        assert wait_for(client, response.json()["id"])["status"] == "succeeded"  # type: ignore[attr-defined]
    source = _bucket_place(database_url, settings.data_dir, s3_bucket)
    before = state_of(source, _store(s3_bucket))
    images = before["images"]
    assert isinstance(images, dict) and len(images) == 2 and all(images.values())

    archive = tmp_path / "site.tar.gz"
    made = source.forkable("backup", str(archive))
    assert made.returncode == 0, made.stderr

    fresh = new_bucket(s3)
    target = _bucket_place(empty_database_url, tmp_path / "target", fresh)
    restored = target.forkable("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert state_of(target, _store(fresh)) == before
    # The target now holds data: a second restore into it is refused.
    again = target.forkable("restore", str(archive))
    assert again.returncode == 1 and "not empty" in again.stderr
