"""Media-store calls timed and their failures counted, on a real folder, database and bucket."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support.metrics import exported
from tests.support.s3 import S3Bucket, new_bucket, s3_server

from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.observability.metrics import Metrics
from forkable.settings.media_url import MediaBucket, MediaFolder, MediaInDatabase
from forkable.storage import MediaUnavailable, MissingMedia, open_store

KEY = "coloringbook/ab/abcdef-result-1.png"


def calls(metrics: Metrics, store: str, operation: str) -> tuple[float, float]:
    """(calls timed, calls failed) of one store's operation."""
    found = exported(metrics)
    labels = (("operation", operation), ("store", store))
    return (
        found.get(("forkable_media_call_duration_seconds_count", labels), 0.0),
        found.get(("forkable_media_errors_total", labels), 0.0),
    )


def test_local_calls_are_timed_and_a_missing_object_is_no_error(tmp_path: Path) -> None:
    metrics = Metrics()
    store = open_store(
        MediaFolder(tmp_path / "media"), database=None, environ={}, observer=metrics.media
    )
    store.put(KEY, b"png", "image/png")
    assert store.get(KEY) == b"png"
    store.delete(KEY)
    with pytest.raises(MissingMedia):
        store.get(KEY)
    store.check()
    assert calls(metrics, "local", "put") == (1, 0)
    assert calls(metrics, "local", "get") == (2, 0)
    assert calls(metrics, "local", "delete") == (1, 0)
    assert calls(metrics, "local", "check") == (1, 0)
    text = metrics.exposition().decode()
    assert "abcdef" not in text  # keys never become labels


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_counts_an_error(tmp_path: Path) -> None:
    metrics = Metrics()
    root = tmp_path / "media"
    root.mkdir()
    store = open_store(MediaFolder(root), database=None, environ={}, observer=metrics.media)
    root.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            store.put(KEY, b"png", "image/png")
    finally:
        root.chmod(0o700)
    assert calls(metrics, "local", "put") == (1, 1)


def test_a_folder_that_cannot_be_written_counts_an_error(tmp_path: Path) -> None:
    # A file where the site's folder should be: no user, root included, can write beneath it.
    metrics = Metrics()
    root = tmp_path / "media"
    root.mkdir()
    (root / "coloringbook").write_text("not a folder")
    store = open_store(MediaFolder(root), database=None, environ={}, observer=metrics.media)
    with pytest.raises(OSError):
        store.put(KEY, b"png", "image/png")
    assert calls(metrics, "local", "put") == (1, 1)


def test_database_media_calls_are_labelled_db(database_url: str) -> None:
    metrics = Metrics()
    database = Database(database_url)
    try:
        upgrade(database)
        store = open_store(MediaInDatabase(), database=database, environ={}, observer=metrics.media)
        store.check()
        with pytest.raises(MissingMedia):
            store.get(KEY)
        assert calls(metrics, "db", "check") == (1, 0)
        assert calls(metrics, "db", "get") == (1, 0)
    finally:
        database.dispose()


def test_a_stopped_s3_server_counts_errors(s3_bucket: S3Bucket) -> None:
    metrics = Metrics()
    store = open_store(
        MediaBucket(bucket=s3_bucket.name, prefix="media"),
        database=None,
        environ=s3_bucket.environ(),
        observer=metrics.media,
    )
    store.put(KEY, b"png", "image/png")
    assert calls(metrics, "s3", "put") == (1, 0)
    with s3_server() as server:
        gone = new_bucket(server)
        dead = open_store(
            MediaBucket(bucket=gone.name, prefix="media"),
            database=None,
            environ=gone.environ(),
            observer=metrics.media,
        )
        dead.put(KEY, b"png", "image/png")
    # The server is stopped and its port closed: the call fails, and is counted.
    with pytest.raises(MediaUnavailable):
        dead.get(KEY)
    assert calls(metrics, "s3", "get") == (1, 1)
    assert calls(metrics, "s3", "put") == (2, 0)
