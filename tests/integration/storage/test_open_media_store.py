"""open_media_store: each media URL gives a working store of its kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.s3 import S3Bucket

from forkable.db import Database
from forkable.storage import LocalMediaStore, open_media_store
from forkable.storage.database import DatabaseMediaStore
from forkable.storage.s3 import S3MediaStore


@pytest.fixture
def database(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'forkable.sqlite3'}")


def test_no_url_is_the_media_folder_in_the_data_dir(tmp_path: Path, database: Database) -> None:
    store = open_media_store(None, data_dir=tmp_path, database=database, environ={})
    assert isinstance(store, LocalMediaStore)
    assert store.root == tmp_path / "media"


def test_a_file_url_is_that_folder(tmp_path: Path, database: Database) -> None:
    folder = tmp_path / "elsewhere"
    store = open_media_store(f"file://{folder}", data_dir=tmp_path, database=database, environ={})
    assert isinstance(store, LocalMediaStore)
    store.put("demo/ab/x.png", b"x", "image/png")
    assert (folder / "demo/ab/x.png").read_bytes() == b"x"


def test_db_is_the_database(tmp_path: Path, database: Database) -> None:
    store = open_media_store("db:", data_dir=tmp_path, database=database, environ={})
    assert isinstance(store, DatabaseMediaStore)
    assert store.database is database


def test_an_s3_url_reaches_the_bucket_through_the_aws_variables(
    tmp_path: Path, database: Database, s3_bucket: S3Bucket
) -> None:
    store = open_media_store(
        f"s3://{s3_bucket.name}/sites/prod",
        data_dir=tmp_path,
        database=database,
        environ=s3_bucket.environ(),
    )
    assert isinstance(store, S3MediaStore)
    assert (store.bucket, store.prefix) == (s3_bucket.name, "sites/prod")
    store.check()
    store.put("demo/ab/x.png", b"x", "image/png")
    assert (
        store.client.get_object(Bucket=s3_bucket.name, Key="sites/prod/demo/ab/x.png")[
            "Body"
        ].read()
        == b"x"
    )


def test_a_bad_url_is_refused_with_its_problem(tmp_path: Path, database: Database) -> None:
    with pytest.raises(ValueError, match="names no bucket"):
        open_media_store("s3://", data_dir=tmp_path, database=database, environ={})
