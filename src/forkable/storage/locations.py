"""Where media live, as a URL: `file:///abs/path`, `s3://bucket/prefix` or `db:`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from forkable.db import Database
from forkable.settings.media_url import (
    MediaBucket,
    MediaInDatabase,
    MediaLocation,
    parse_media_url,
)
from forkable.storage.base import MediaStore
from forkable.storage.database import DatabaseMediaStore
from forkable.storage.local import LocalMediaStore
from forkable.storage.observed import MediaObserver, ObservedMediaStore, store_kind


def open_media_store(
    media_url: str | None, *, data_dir: Path, database: Database, environ: Mapping[str, str]
) -> MediaStore:
    """The store a media URL names; an S3 client is built from the AWS variables in ``environ``."""
    location = parse_media_url(media_url, data_dir=data_dir)
    return open_store(location, database=database, environ=environ)


def open_store(
    location: MediaLocation,
    *,
    database: Database,
    environ: Mapping[str, str],
    observer: MediaObserver | None = None,
) -> MediaStore:
    """The store for a parsed media location (see `Settings.media_location`); with an
    ``observer``, every call is timed and its failures counted (`ObservedMediaStore`)."""
    store = _backend(location, database=database, environ=environ)
    if observer is None:
        return store
    return ObservedMediaStore(store, observer, store_kind(location))


def _backend(
    location: MediaLocation, *, database: Database, environ: Mapping[str, str]
) -> MediaStore:
    if isinstance(location, MediaInDatabase):
        return DatabaseMediaStore(database)
    if isinstance(location, MediaBucket):
        # Importing boto3 takes about 0.13 s of a cold start: only sites with a bucket pay it.
        from forkable.storage.s3 import S3MediaStore, s3_client

        return S3MediaStore(s3_client(environ), bucket=location.bucket, prefix=location.prefix)
    return LocalMediaStore(location.path)
