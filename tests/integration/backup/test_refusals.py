"""Restore refuses, with one line and nothing loaded, archives that are cut short or altered,
and targets that already hold data; backup names a missing pg_dump in one line."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from tests.factories import sign_up, upload, wait_for

from forkable.db import Database
from forkable.settings import Settings

from .conftest import Place


@pytest.fixture
def archive(client: TestClient, settings: Settings, tmp_path: Path) -> Path:
    user = sign_up(client)
    response = upload(client, user)
    assert wait_for(client, response.json()["id"])["status"] == "succeeded"  # type: ignore[attr-defined]
    path = tmp_path / "site.tar.gz"
    made = Place(settings.resolved_database_url, settings.data_dir).forkable("backup", str(path))
    assert made.returncode == 0, made.stderr
    return path


def _assert_nothing_loaded(target: Place) -> None:
    media = target.data_dir / "media"
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))
    if target.database_url.startswith("sqlite"):
        path = Path(target.database_url.removeprefix("sqlite:///"))
        if not path.exists():
            return
    database = Database(target.database_url)
    try:
        with database.engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                if table == "alembic_version":
                    continue
                rows = connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar()  # noqa: S608
                assert rows == 0, table
    finally:
        database.dispose()


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_a_truncated_archive_is_refused(archive: Path, target: Place, tmp_path: Path) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    refused = target.forkable("restore", str(cut))
    assert refused.returncode == 1
    assert "cannot read the archive" in _one_error_line(refused.stderr)
    _assert_nothing_loaded(target)


def test_an_archive_with_one_byte_changed_is_refused(
    archive: Path, target: Place, tmp_path: Path
) -> None:
    # Change a byte inside a member (not the gzip frame, which gzip's own CRC would catch
    # anyway): re-pack the tar with one media byte flipped, as a tamperer would.
    raw = bytearray(gzip.decompress(archive.read_bytes()))
    with tarfile.open(fileobj=io.BytesIO(bytes(raw))) as tar:
        member = next(info for info in tar.getmembers() if info.name.startswith("media/"))
    raw[member.offset_data + 100] ^= 0x01
    tampered = tmp_path / "tampered.tar.gz"
    tampered.write_bytes(gzip.compress(bytes(raw)))
    refused = target.forkable("restore", str(tampered))
    assert refused.returncode == 1
    line = _one_error_line(refused.stderr)
    assert member.name in line and "checksum" in line
    _assert_nothing_loaded(target)


def test_a_target_that_holds_data_is_refused_unless_forced(archive: Path, target: Place) -> None:
    first = target.forkable("restore", str(archive))
    assert first.returncode == 0, first.stderr
    again = target.forkable("restore", str(archive))
    assert again.returncode == 1
    assert "not empty" in _one_error_line(again.stderr)
    forced = target.forkable("restore", str(archive), "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.forkable("ledger", "verify").returncode == 0


def test_a_media_store_that_holds_objects_is_refused(archive: Path, target: Place) -> None:
    target.media().put("coloringbook/zz/stray.png", b"someone else's", "image/png")
    refused = target.forkable("restore", str(archive))
    assert refused.returncode == 1
    assert "media store is not empty" in _one_error_line(refused.stderr)


def test_media_deleted_after_the_dump_is_recorded_and_cleared_on_restore(
    client: TestClient, settings: Settings, target: Place, tmp_path: Path
) -> None:
    user = sign_up(client)
    response = upload(client, user)
    body = wait_for(client, response.json()["id"])  # type: ignore[attr-defined]
    assert body["status"] == "succeeded"
    source = Place(settings.resolved_database_url, settings.data_dir)
    # As if retention removed the photo between the dump and the copy of the media: the row
    # still names it, the store no longer holds it.
    photo = next((settings.data_dir / "media").rglob("*input*"))
    photo.unlink()
    path = tmp_path / "site.tar.gz"
    made = source.forkable("backup", str(path))
    assert made.returncode == 0, made.stderr
    assert "1 media already deleted" in made.stdout
    restored = target.forkable("restore", str(path))
    assert restored.returncode == 0, restored.stderr
    assert "1 keys cleared" in restored.stdout
    database = Database(target.database_url)
    try:
        with database.engine.connect() as connection:
            keys = connection.execute(text("SELECT input_key, output_key FROM generations")).one()
    finally:
        database.dispose()
    assert keys[0] is None and keys[1] is not None


@pytest.mark.postgres
def test_backup_without_pg_dump_says_so(postgres_url: str, tmp_path: Path) -> None:
    place = Place(postgres_url, tmp_path / "var", extra_env=(("PATH", str(tmp_path / "bin")),))
    (tmp_path / "bin").mkdir()
    upgraded = Place(postgres_url, tmp_path / "var").forkable("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    made = place.forkable("backup", str(tmp_path / "site.tar.gz"))
    assert made.returncode == 1
    assert "pg_dump is not installed" in _one_error_line(made.stderr)
    assert not (tmp_path / "site.tar.gz").exists()


def test_a_migrated_but_empty_target_takes_the_archive(archive: Path, target: Place) -> None:
    """`forkable db upgrade` first (as a PostgreSQL deployment does) still counts as empty."""
    upgraded = target.forkable("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    restored = target.forkable("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert target.forkable("ledger", "verify").returncode == 0


@pytest.mark.postgres
def test_backup_with_a_pg_dump_older_than_the_server_says_so(
    postgres_url: str, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    old = bin_dir / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    upgraded = Place(postgres_url, tmp_path / "var").forkable("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    place = Place(postgres_url, tmp_path / "var", extra_env=(("PATH", str(bin_dir)),))
    made = place.forkable("backup", str(tmp_path / "site.tar.gz"))
    assert made.returncode == 1
    line = _one_error_line(made.stderr)
    assert "pg_dump 9 is older than the PostgreSQL" in line and "postgresql-client-" in line
    assert not (tmp_path / "site.tar.gz").exists()
