"""A site whose FORKABLE_MEDIA_URL is an S3 bucket: photos and results live there, not on disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.factories import sign_up, upload, wait_for
from tests.support.s3 import S3Bucket

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.generations.runner import RunnerConfig
from forkable.settings import Settings, SettingsError, load_settings
from forkable.sites import SiteRegistry
from forkable.storage.s3 import s3_client

PREFIX = "site-media"


def _client(registry: SiteRegistry, settings: Settings) -> Iterator[TestClient]:
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


@pytest.fixture
def bucket_client(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], s3_bucket: S3Bucket
) -> Iterator[TestClient]:
    settings = settings_factory(
        media_url=f"s3://{s3_bucket.name}/{PREFIX}", aws_environment=s3_bucket.environ()
    )
    yield from _client(registry, settings)


def _objects(bucket: S3Bucket) -> list[str]:
    listed = s3_client(bucket.environ()).list_objects_v2(Bucket=bucket.name)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_photos_and_results_go_to_the_bucket_and_leave_with_their_generation(
    bucket_client: TestClient, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    user = sign_up(bucket_client)
    generation_id = str(upload(bucket_client, user).json()["id"])  # type: ignore[attr-defined]
    done = wait_for(bucket_client, generation_id)
    assert done["status"] == "succeeded", done
    result = bucket_client.get(str(done["result_url"]))
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"

    stored = _objects(s3_bucket)
    assert len(stored) == 2 and all(key.startswith(f"{PREFIX}/") for key in stored), stored
    media = tmp_path / "var" / "media"
    assert not media.exists() or not any(path.is_file() for path in media.rglob("*"))

    deleted = bucket_client.delete(f"/api/v1/generations/{generation_id}", headers=user.headers())
    assert deleted.status_code == 204
    assert _objects(s3_bucket) == []


def test_readyz_checks_the_bucket(
    bucket_client: TestClient,
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    s3_bucket: S3Bucket,
) -> None:
    ready = bucket_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["components"]["storage"] == {"status": "ok"}

    missing = settings_factory(
        media_url="s3://forkable-no-such-bucket/x", aws_environment=s3_bucket.environ()
    )
    for client in _client(registry, missing):
        unready = client.get("/readyz")
        assert unready.status_code == 503
        storage = unready.json()["components"]["storage"]
        assert storage["status"] == "error" and "forkable-no-such-bucket" in storage["detail"]


def test_the_media_url_is_read_from_the_environment_with_the_aws_variables() -> None:
    settings = load_settings(
        {
            "FORKABLE_MEDIA_URL": "s3://media-bucket/sites",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
            "HOME": "/root",
        }
    )
    assert settings.aws_environment == {
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
    }
    assert str(settings.media_location) == "MediaBucket(bucket='media-bucket', prefix='sites')"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("s3://", "names no bucket"),
        ("media", "is not a URL"),
        ("file://relative/path", "relative path"),
        ("ftp://host/x", "unknown scheme"),
    ],
)
def test_a_bad_media_url_is_one_line_naming_the_variable(url: str, words: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"FORKABLE_MEDIA_URL": url})
    lines = [line for line in str(raised.value).splitlines() if "FORKABLE_MEDIA_URL" in line]
    assert len(lines) == 1 and words in lines[0], str(raised.value)
