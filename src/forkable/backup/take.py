"""`forkable backup`: dump the database, then copy the media the dumped rows reference."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic.runtime.migration import MigrationContext

from forkable import __version__
from forkable.backup.archive import (
    MANIFEST,
    POSTGRES_MEMBER,
    SQLITE_MEMBER,
    Manifest,
    Member,
    MissingObject,
    add_bytes,
    sha256_of,
)
from forkable.backup.database_dump import (
    DumpError,
    pg_dump,
    postgres_snapshot,
    sqlite_backup,
    sqlite_path,
)
from forkable.backup.media_keys import (
    keys_in_connection,
    keys_in_sqlite_copy,
    revision_in_sqlite_copy,
)
from forkable.db import Database
from forkable.settings.media_url import MediaInDatabase, MediaLocation
from forkable.storage import MediaUnavailable, MissingMedia, open_store


class BackupError(Exception):
    """The backup could not be taken; the message is one line for an operator."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    members: int
    bytes: int
    revision: str | None
    missing: int


def media_store_name(location: MediaLocation) -> str:
    return type(location).__name__


def take_backup(
    database: Database,
    location: MediaLocation,
    dest: Path,
    *,
    environ: Mapping[str, str],
) -> BackupSummary:
    """Write the archive to ``dest`` (atomically: a failed run leaves no file there)."""
    engine = "sqlite" if database.is_sqlite else "postgresql"
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Work next to the destination, not in /tmp: that is often a small RAM disk, and the
    # spooled media are as large as the archive.
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.work-") as work:
        workdir = Path(work)
        # Consistency: the database is dumped FIRST and the keys are read from the DUMPED
        # rows (SQLite: the backup copy; PostgreSQL: the snapshot pg_dump reads). Reading
        # keys from the live database instead would pick up generations made after the dump,
        # whose files would then lie in the archive without a row; copying media first would
        # miss results finished in between, whose rows would lack their files.
        try:
            if database.is_sqlite:
                dump = workdir / "forkable.sqlite3"
                sqlite_backup(sqlite_path(database), dump)
                keys = keys_in_sqlite_copy(dump)
                revision = revision_in_sqlite_copy(dump)
                database_member = SQLITE_MEMBER
            else:
                dump = workdir / "forkable.pgdump"
                with postgres_snapshot(database) as (connection, snapshot):
                    keys = keys_in_connection(connection)
                    revision = MigrationContext.configure(connection).get_current_revision()
                    pg_dump(database, connection, snapshot, dump)
                database_member = POSTGRES_MEMBER
        except DumpError as exc:
            raise BackupError(str(exc)) from None
        manifest = Manifest(
            forkable_version=__version__,
            revision=revision,
            engine=engine,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            media_store=media_store_name(location),
            members=[Member(database_member, dump.stat().st_size, sha256_of(dump))],
        )
        media: list[str] = []
        # `db:` media live in the media_objects table and are already in the dump.
        if not isinstance(location, MediaInDatabase):
            store = open_store(location, database=database, environ=environ)
            for key in keys:
                try:
                    data = store.get(key)
                except MissingMedia:
                    # A user's delete or retention removed the object after the dump; the
                    # row survives in the copy, so restore clears its key as retention would.
                    manifest.missing.append(MissingObject(key, "not in the media store"))
                    continue
                except MediaUnavailable as exc:
                    raise BackupError(f"cannot read media {key!r}: {exc}") from None
                # Spooled to disk, not memory: a site's media can be far larger than RAM.
                spooled = workdir / "media" / key
                spooled.parent.mkdir(parents=True, exist_ok=True)
                spooled.write_bytes(data)
                media.append(key)
                manifest.members.append(_media_member(key, data))
        _write(dest, workdir, manifest, dump, database_member, media)
    return BackupSummary(
        path=dest,
        members=len(manifest.members),
        bytes=dest.stat().st_size,
        revision=revision,
        missing=len(manifest.missing),
    )


def _media_member(key: str, data: bytes) -> Member:
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return Member(f"media/{key}", len(data), hashlib.sha256(data).hexdigest(), content_type)


def _write(
    dest: Path,
    workdir: Path,
    manifest: Manifest,
    dump: Path,
    database_member: str,
    media: list[str],
) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            add_bytes(tar, MANIFEST, manifest.to_json())
            tar.add(dump, arcname=database_member)
            for key in media:
                tar.add(workdir / "media" / key, arcname=f"media/{key}")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
