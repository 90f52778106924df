"""What every media store promises, checked the same way on a folder, SQLite and S3."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.s3 import S3Bucket

from forkable.db import Database
from forkable.db.base import SiteRow
from forkable.db.migrate import upgrade
from forkable.storage import LocalMediaStore, MediaStore, MissingMedia
from forkable.storage.database import DatabaseMediaStore
from forkable.storage.s3 import S3MediaStore, s3_client

SITE = "demo"
KEY = f"{SITE}/ab/abcdef-input.jpg"
# Every byte value, so no store may treat the data as text.
EVERY_BYTE = bytes(range(256)) * 4


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'forkable.sqlite3'}")
    upgrade(database)
    with database.transaction() as session:
        session.add(SiteRow(id=SITE, name="Demo", domain="demo.example"))
    yield database
    database.engine.dispose()


@pytest.fixture(params=["folder", "database", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "folder":
        return LocalMediaStore(tmp_path / "media")
    if request.param == "database":
        return DatabaseMediaStore(request.getfixturevalue("sqlite_database"))
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return S3MediaStore(s3_client(bucket.environ()), bucket=bucket.name, prefix="media")


def test_what_is_put_is_got_back_byte_for_byte(store: MediaStore) -> None:
    store.put(KEY, EVERY_BYTE, "image/jpeg")
    assert store.get(KEY) == EVERY_BYTE


def test_an_empty_object_is_kept(store: MediaStore) -> None:
    store.put(KEY, b"", "image/png")
    assert store.get(KEY) == b""


def test_a_put_replaces_the_object_under_the_same_key(store: MediaStore) -> None:
    store.put(KEY, b"first", "image/jpeg")
    store.put(KEY, b"second", "image/png")
    assert store.get(KEY) == b"second"


def test_a_missing_key_raises_missing_media_naming_the_key(store: MediaStore) -> None:
    with pytest.raises(MissingMedia) as raised:
        store.get(f"{SITE}/zz/nothing-here.png")
    assert raised.value.args == (f"{SITE}/zz/nothing-here.png",)


def test_delete_removes_the_object_and_leaves_its_neighbours(store: MediaStore) -> None:
    neighbour = f"{SITE}/ab/abcdef-result-1.png"
    store.put(KEY, b"photo", "image/jpeg")
    store.put(neighbour, b"result", "image/png")
    store.delete(KEY)
    with pytest.raises(MissingMedia):
        store.get(KEY)
    assert store.get(neighbour) == b"result"


def test_deleting_a_missing_key_is_not_an_error(store: MediaStore) -> None:
    store.delete(f"{SITE}/zz/never-written.png")
    store.put(KEY, b"photo", "image/jpeg")
    store.delete(KEY)
    store.delete(KEY)


@pytest.mark.parametrize(
    "key", ["../escape.png", "demo/../../escape.png", "/abs.png", "Demo/upper.png", ""]
)
def test_a_key_that_could_leave_the_store_is_refused(store: MediaStore, key: str) -> None:
    with pytest.raises(ValueError, match="unsafe media key"):
        store.put(key, b"x", "image/png")
    with pytest.raises(ValueError, match="unsafe media key"):
        store.get(key)
    with pytest.raises(ValueError, match="unsafe media key"):
        store.delete(key)


def test_check_passes_on_a_writable_store_and_leaves_nothing_readable(store: MediaStore) -> None:
    store.check()
    store.put(KEY, b"photo", "image/jpeg")
    store.check()
    assert store.get(KEY) == b"photo"


def test_puts_from_many_threads_all_land(store: MediaStore) -> None:
    threads, per_thread = 6, 5
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(per_thread):
                store.put(f"{SITE}/t{worker}/{n}.png", f"{worker}:{n}".encode(), "image/png")
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=write, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert failures == []
    for w in range(threads):
        for n in range(per_thread):
            assert store.get(f"{SITE}/t{w}/{n}.png") == f"{w}:{n}".encode()
