"""`db:` media are rows: they travel inside the database dump, and nowhere else."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from tests.factories import sign_up, upload, wait_for

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.db import Database
from forkable.generations.runner import RunnerConfig
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.storage.database import DatabaseMediaStore

from .conftest import Place, state_of


def _state(place: Place) -> dict[str, object]:
    database = Database(place.database_url)
    try:
        return state_of(place, DatabaseMediaStore(database))
    finally:
        database.dispose()


def test_media_in_the_database_travel_in_the_dump(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
    empty_database_url: str,
    tmp_path: Path,
) -> None:
    settings = settings_factory(database_url=database_url, media_url="db:")
    services = build_services(
        registry,
        settings,
        passwords=fast_passwords(),
        runner_config=RunnerConfig(workers=1, lease_seconds=5, poll_seconds=0.05),
    )
    app = create_app(registry, settings, services=services, migrate=True)
    try:
        with TestClient(app, base_url="http://coloringbook.localhost") as client:
            user = sign_up(client)
            response = upload(client, user)
            assert wait_for(client, response.json()["id"])["status"] == "succeeded"  # type: ignore[attr-defined]
    finally:
        services.runner.stop()
        services.database.dispose()
    db_media = (("FORKABLE_MEDIA_URL", "db:"),)
    source = Place(database_url, settings.data_dir, extra_env=db_media)
    before = _state(source)
    images = before["images"]
    assert isinstance(images, dict) and len(images) == 2 and all(images.values())

    archive = tmp_path / "site.tar.gz"
    made = source.forkable("backup", str(archive))
    assert made.returncode == 0, made.stderr
    with tarfile.open(archive) as tar:
        assert not [name for name in tar.getnames() if name.startswith("media/")]

    target = Place(empty_database_url, tmp_path / "target", extra_env=db_media)
    restored = target.forkable("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert _state(target) == before

    # A target keeping media in a folder would get rows naming objects it does not hold.
    elsewhere = Place(empty_database_url, tmp_path / "elsewhere")
    refused = elsewhere.forkable("restore", str(archive))
    assert refused.returncode == 1
    assert "media were in the database (db:)" in refused.stderr
    assert "the target keeps them in a folder" in refused.stderr
