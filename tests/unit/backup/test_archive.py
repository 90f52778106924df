"""The archive format: a manifest first, every member checked before anything is used."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest

from forkable.backup.archive import (
    MANIFEST,
    SQLITE_MEMBER,
    ArchiveError,
    Manifest,
    Member,
    add_bytes,
    read_verified,
)
from forkable.backup.database_dump import DumpError, major_version

DATABASE = b"not really a database, only bytes"
PHOTO = b"\xff\xd8 a photo"


def _manifest(members: list[Member]) -> Manifest:
    return Manifest(
        forkable_version="1.0",
        revision="0008",
        engine="sqlite",
        created_at="2026-12-06T03:00:00+00:00",
        media_store="MediaFolder",
        members=members,
    )


def _member(path: str, data: bytes) -> Member:
    return Member(path, len(data), hashlib.sha256(data).hexdigest())


def _write(path: Path, manifest: Manifest, files: dict[str, bytes], *, first: bool = True) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        if first:
            add_bytes(tar, MANIFEST, manifest.to_json())
        for name, data in files.items():
            add_bytes(tar, name, data)
        if not first:
            add_bytes(tar, MANIFEST, manifest.to_json())
    return path


FILES = {SQLITE_MEMBER: DATABASE, "media/coloringbook/ab/ab01-input.jpg": PHOTO}


def test_a_whole_archive_reads_back(tmp_path: Path) -> None:
    manifest = _manifest([_member(name, data) for name, data in FILES.items()])
    path = _write(tmp_path / "a.tar.gz", manifest, FILES)
    out = tmp_path / "out"
    out.mkdir()
    read = read_verified(path, out)
    assert read == manifest
    assert (out / "media/coloringbook/ab/ab01-input.jpg").read_bytes() == PHOTO
    assert read.total_bytes == len(DATABASE) + len(PHOTO)


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({SQLITE_MEMBER: DATABASE, "media/coloringbook/ab/ab01-input.jpg": b"other"}, "checksum"),
        ({SQLITE_MEMBER: DATABASE}, "missing"),
        ({**FILES, "media/extra.png": b"x"}, "not in the manifest"),
    ],
)
def test_an_altered_archive_is_refused(tmp_path: Path, files: dict[str, bytes], words: str) -> None:
    manifest = _manifest([_member(name, data) for name, data in FILES.items()])
    path = _write(tmp_path / "a.tar.gz", manifest, files)
    with pytest.raises(ArchiveError, match=words):
        read_verified(path, tmp_path)


def test_the_manifest_must_come_first(tmp_path: Path) -> None:
    manifest = _manifest([_member(name, data) for name, data in FILES.items()])
    path = _write(tmp_path / "a.tar.gz", manifest, FILES, first=False)
    with pytest.raises(ArchiveError, match=r"no manifest\.json at the start"):
        read_verified(path, tmp_path)


def test_a_file_that_is_no_archive_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    path.write_bytes(b"hello")
    with pytest.raises(ArchiveError) as caught:
        read_verified(path, tmp_path)
    assert "\n" not in str(caught.value)


def test_pg_tool_versions_are_read() -> None:
    assert major_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)") == 15
    assert major_version("pg_dump (PostgreSQL) 9.6.24") == 9
    with pytest.raises(DumpError):
        major_version("pg_dump")
