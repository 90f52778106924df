"""`forkable restore`: check an archive whole, then load it into an empty database and store."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text

from forkable.backup.archive import ArchiveError, Manifest, read_verified
from forkable.backup.database_dump import DumpError, pg_restore, sqlite_load, sqlite_path
from forkable.backup.media_keys import clear_keys
from forkable.backup.take import media_store_name
from forkable.db import Database
from forkable.db.migrate import current_revision, head_revision, upgrade
from forkable.generations.verify import verify_all
from forkable.ledger.verify import Violation
from forkable.settings.media_url import MediaBucket, MediaFolder, MediaInDatabase, MediaLocation
from forkable.storage import MediaUnavailable, open_store
from forkable.storage.base import checked_key

# Alembic's bookkeeping: present in a migrated but empty database.
_BOOKKEEPING = {"alembic_version"}


_IN_DATABASE = MediaInDatabase.__name__
_STORE_WORDS = {
    MediaFolder.__name__: "a folder",
    MediaBucket.__name__: "an S3 bucket",
    _IN_DATABASE: "the database (db:)",
}


def _described(store: str) -> str:
    return _STORE_WORDS.get(store, store)


class RestoreRefused(Exception):
    """The restore stopped; the message is one line for an operator.

    Refusals before loading (a bad archive, a target with data) leave everything untouched;
    a media store that fails after the database is loaded says so, to be run again with
    --force once the store works.
    """


@dataclass(frozen=True)
class RestoreSummary:
    manifest: Manifest
    revision: str | None
    media: int
    cleared: int
    violations: list[Violation]


def restore_archive(
    database: Database,
    location: MediaLocation,
    src: Path,
    *,
    environ: Mapping[str, str],
    force: bool = False,
) -> RestoreSummary:
    with tempfile.TemporaryDirectory(prefix="forkable-restore-") as work:
        workdir = Path(work)
        try:
            manifest = read_verified(src, workdir)
        except ArchiveError as exc:
            raise RestoreRefused(str(exc)) from None
        engine = "sqlite" if database.is_sqlite else "postgresql"
        if manifest.engine != engine:
            raise RestoreRefused(
                f"the archive holds a {manifest.engine} database; the target is {engine}"
            )
        target_store = media_store_name(location)
        if manifest.media_store != target_store and _IN_DATABASE in (
            manifest.media_store,
            target_store,
        ):
            # `db:` media travel inside the database; another store's objects need a store.
            raise RestoreRefused(
                f"the archive's media were in {_described(manifest.media_store)}; the target "
                f"keeps them in {_described(target_store)}: set FORKABLE_MEDIA_URL alike"
            )
        for member in manifest.media_members:
            try:
                checked_key(member.path.removeprefix("media/"))
            except ValueError as exc:
                raise RestoreRefused(f"{src}: {exc}") from None
        if not force:
            _refuse_unless_empty(database, location, environ)
        try:
            if database.is_sqlite:
                sqlite_load(workdir / manifest.database_member, sqlite_path(database))
            else:
                pg_restore(database, workdir / manifest.database_member)
        except DumpError as exc:
            raise RestoreRefused(str(exc)) from None
        database.dispose()  # connections opened before the load may cache the old schema
        if manifest.revision != head_revision(database):
            upgrade(database)
        members = manifest.media_members
        if members:
            # The manifest said the same kind of store as the target (checked above), so a
            # `db:` target never gets here with members to put.
            store = open_store(location, database=database, environ=environ)
        for member in members:
            key = member.path.removeprefix("media/")
            data = (workdir / member.path).read_bytes()
            try:
                store.put(key, data, member.content_type or "application/octet-stream")
            except MediaUnavailable as exc:
                raise RestoreRefused(
                    f"the database is loaded but media {key!r} could not be written ({exc}): "
                    "fix the store and run the restore again with --force"
                ) from None
        clear_keys(database, [missing.key for missing in manifest.missing])
        with database.session() as session:
            violations = verify_all(session)
    return RestoreSummary(
        manifest=manifest,
        revision=current_revision(database),
        media=len(manifest.media_members),
        cleared=len(manifest.missing),
        violations=violations,
    )


def _refuse_unless_empty(
    database: Database, location: MediaLocation, environ: Mapping[str, str]
) -> None:
    table = _first_table_with_rows(database)
    if table is not None:
        raise RestoreRefused(
            f"the target database is not empty (table {table} has rows): "
            "restore into an empty one, or pass --force to replace it"
        )
    if _store_holds_objects(location, environ):
        raise RestoreRefused(
            "the target media store is not empty: use an empty one, or pass --force"
        )


def _first_table_with_rows(database: Database) -> str | None:
    if database.is_sqlite and not sqlite_path(database).exists():
        return None
    with database.engine.connect() as connection:
        preparer = connection.dialect.identifier_preparer
        for table in sorted(inspect(connection).get_table_names()):
            if table in _BOOKKEEPING:
                continue
            probe = text(f"SELECT 1 FROM {preparer.quote(table)} LIMIT 1")  # noqa: S608  # quoted name
            if connection.execute(probe).first() is not None:
                return table
    return None


def _store_holds_objects(location: MediaLocation, environ: Mapping[str, str]) -> bool:
    if isinstance(location, MediaFolder):
        if not location.path.exists():
            return False
        return any(
            path.is_file() and not path.name.startswith(".") for path in location.path.rglob("*")
        )
    if isinstance(location, MediaBucket):
        from forkable.storage.s3 import s3_client

        prefix = f"{location.prefix.strip('/')}/" if location.prefix.strip("/") else ""
        try:
            listing = s3_client(environ).list_objects_v2(
                Bucket=location.bucket, Prefix=prefix, MaxKeys=1
            )
        except Exception as exc:  # botocore's errors: one line for the operator
            raise RestoreRefused(f"cannot list the S3 bucket {location.bucket!r}: {exc}") from None
        return bool(listing.get("KeyCount", 0))
    return False  # `db:` media are rows: the database check covers them
