"""An archive naming a media key forkable would never make is refused before anything loads."""

from __future__ import annotations

import hashlib
import sqlite3
import tarfile
from pathlib import Path

import pytest

from forkable.backup import RestoreRefused, restore_archive
from forkable.backup.archive import MANIFEST, SQLITE_MEMBER, Manifest, Member, add_bytes
from forkable.db import Database
from forkable.settings.media_url import MediaFolder


def _member(path: str, data: bytes) -> Member:
    return Member(path, len(data), hashlib.sha256(data).hexdigest(), "image/png")


def test_an_unsafe_media_key_is_refused_before_loading(tmp_path: Path) -> None:
    dump = tmp_path / "dump.sqlite3"
    sqlite3.connect(dump).close()
    files = {SQLITE_MEMBER: dump.read_bytes(), "media/Site/..hidden.png": b"png"}
    manifest = Manifest(
        forkable_version="1.0",
        revision=None,
        engine="sqlite",
        created_at="2026-12-06T03:00:00+00:00",
        media_store="MediaFolder",
        members=[_member(name, data) for name, data in files.items()],
    )
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_bytes(tar, MANIFEST, manifest.to_json())
        for name, data in files.items():
            add_bytes(tar, name, data)
    target = tmp_path / "target" / "forkable.sqlite3"
    database = Database(f"sqlite:///{target}")
    try:
        with pytest.raises(RestoreRefused, match="unsafe media key"):
            restore_archive(database, MediaFolder(tmp_path / "media"), archive, environ={})
    finally:
        database.dispose()
    assert not target.exists()
    assert not (tmp_path / "media").exists()
