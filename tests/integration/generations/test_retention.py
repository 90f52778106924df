"""Media retention on real databases (SQLite file, PostgreSQL) and real stores (folder, S3, db:).

Generations are written as rows in the state under test (finished when, with which keys) and
their objects put in the store, so each case says exactly what `expire_media` starts from.
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support.s3 import S3Bucket, s3, s3_bucket  # noqa: F401  (fixtures)

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import create_user
from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations.models import Generation, HoldState, Status
from forkable.generations.retention import RetentionReport, SiteExpiry, expire_media
from forkable.manifest.schema import RetentionTable
from forkable.sites import Site, SiteRegistry
from forkable.storage import LocalMediaStore, MediaStore, MediaUnavailable, MissingMedia
from forkable.storage.database import DatabaseMediaStore
from forkable.storage.s3 import S3MediaStore, s3_client

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
SITE = "coloringbook"
OTHER_SITE = "pencilsketch"


@pytest.fixture
def database(database_url: str, registry: SiteRegistry) -> Iterator[Database]:
    """A migrated database (SQLite file or PostgreSQL) that knows the example sites."""
    database = Database(database_url)
    upgrade(database)
    sync_sites(database, registry)
    yield database
    database.dispose()


@pytest.fixture(params=["folder", "s3", "database"])
def store(request: pytest.FixtureRequest, tmp_path: Path, database: Database) -> MediaStore:
    if request.param == "folder":
        return LocalMediaStore(tmp_path / "media")
    if request.param == "database":
        return DatabaseMediaStore(database)
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return S3MediaStore(s3_client(bucket.environ()), bucket=bucket.name, prefix="media")


@pytest.fixture
def folder_store(tmp_path: Path) -> MediaStore:
    return LocalMediaStore(tmp_path / "media")


def site(registry: SiteRegistry, site_id: str, photo_days: int, result_days: int) -> Site:
    """An example site with the given `[retention]` days."""
    found = registry.get(site_id)
    assert found is not None
    retention = RetentionTable(photo_days=photo_days, result_days=result_days)
    manifest = found.manifest.model_copy(update={"retention": retention})
    return Site(manifest=manifest, folder=found.folder)


def new_user(database: Database, site_id: str = SITE) -> int:
    user = create_user(
        database,
        fast_passwords(),
        site_id=site_id,
        email=f"{secrets.token_hex(4)}@example.com",
        password=secrets.token_urlsafe(16),
        signup_bonus=0,
    )
    return user.id


@dataclass(frozen=True)
class Made:
    """A generation written for a test, and the keys its objects were stored under."""

    id: str
    input_key: str | None
    output_key: str | None


def make(
    database: Database,
    store: MediaStore,
    user_id: int,
    *,
    status: Status,
    finished_days_ago: float | None,
    site_id: str = SITE,
    result: bool = True,
    deleted: bool = False,
) -> Made:
    """A generation row in ``status``, its photo (and result) stored under its keys."""
    generation_id = uuid.uuid4().hex
    prefix = f"{site_id}/{generation_id[:2]}/{generation_id}"
    input_key = f"{prefix}-input.jpg"
    output_key = f"{prefix}-output.png" if result else None
    store.put(input_key, b"photo " + generation_id.encode(), "image/jpeg")
    if output_key:
        store.put(output_key, b"result " + generation_id.encode(), "image/png")
    finished = None if finished_days_ago is None else NOW - timedelta(days=finished_days_ago)
    with database.transaction() as session:
        session.add(
            Generation(
                id=generation_id,
                site_id=site_id,
                user_id=user_id,
                status=status,
                hold_state=HoldState.CAPTURED if status == Status.SUCCEEDED else HoldState.OPEN,
                cost=1,
                input_key=input_key,
                output_key=output_key,
                created_at=(finished or NOW) - timedelta(minutes=1),
                finished_at=finished,
                deleted_at=NOW - timedelta(days=1) if deleted else None,
            )
        )
    return Made(generation_id, input_key, output_key)


def keys_of(database: Database, generation_id: str) -> tuple[str | None, str | None]:
    with database.session() as session:
        row = session.execute(
            select(Generation.input_key, Generation.output_key).where(
                Generation.id == generation_id
            )
        ).one()
    return row.input_key, row.output_key


def stored(store: MediaStore, key: str | None) -> bool:
    assert key is not None
    try:
        store.get(key)
    except MissingMedia:
        return False
    return True


def test_expired_photos_and_results_are_deleted_and_their_keys_cleared(
    database: Database, store: MediaStore, registry: SiteRegistry
) -> None:
    user = new_user(database)
    photo_expired = make(database, store, user, status=Status.SUCCEEDED, finished_days_ago=31)
    both_expired = make(database, store, user, status=Status.SUCCEEDED, finished_days_ago=366)
    failed = make(database, store, user, status=Status.FAILED, finished_days_ago=31, result=False)
    recent = make(database, store, user, status=Status.SUCCEEDED, finished_days_ago=29)
    queued = make(database, store, user, status=Status.QUEUED, finished_days_ago=None)
    running = make(database, store, user, status=Status.RUNNING, finished_days_ago=None)
    # Deleted generations already lost their objects; one caught half-way is still not ours.
    deleted = make(
        database, store, user, status=Status.SUCCEEDED, finished_days_ago=400, deleted=True
    )
    sites = [site(registry, SITE, photo_days=30, result_days=365)]

    report = expire_media(database, store, sites, now=NOW)

    assert report.sites == {SITE: SiteExpiry(photos_deleted=3, results_deleted=1)}
    assert (report.photos_deleted, report.results_deleted, report.failures) == (3, 1, 0)
    assert not report.more_waiting
    assert keys_of(database, photo_expired.id) == (None, photo_expired.output_key)
    assert keys_of(database, both_expired.id) == (None, None)
    assert keys_of(database, failed.id) == (None, None)
    for gone in (photo_expired.input_key, both_expired.input_key, both_expired.output_key):
        assert not stored(store, gone)
    assert not stored(store, failed.input_key)
    assert stored(store, photo_expired.output_key)
    for kept in (recent, queued, running, deleted):
        assert keys_of(database, kept.id) == (kept.input_key, kept.output_key)
        assert stored(store, kept.input_key)
        assert stored(store, kept.output_key)

    again = expire_media(database, store, sites, now=NOW)
    assert again.sites == {SITE: SiteExpiry()}


def test_days_count_from_when_the_image_finished(
    database: Database, folder_store: MediaStore, registry: SiteRegistry
) -> None:
    user = new_user(database)
    made = make(database, folder_store, user, status=Status.SUCCEEDED, finished_days_ago=10)
    sites = [site(registry, SITE, photo_days=10, result_days=11)]

    before = expire_media(database, folder_store, sites, now=NOW - timedelta(seconds=1))
    exactly = expire_media(database, folder_store, sites, now=NOW)
    after = expire_media(database, folder_store, sites, now=NOW + timedelta(seconds=1))

    assert (before.photos_deleted, exactly.photos_deleted, after.photos_deleted) == (0, 0, 1)
    assert keys_of(database, made.id) == (None, made.output_key)


def test_a_site_whose_days_are_zero_keeps_everything_and_sites_are_apart(
    database: Database, folder_store: MediaStore, registry: SiteRegistry
) -> None:
    keeper = make(
        database,
        folder_store,
        new_user(database, SITE),
        status=Status.SUCCEEDED,
        finished_days_ago=3000,
    )
    other = make(
        database,
        folder_store,
        new_user(database, OTHER_SITE),
        site_id=OTHER_SITE,
        status=Status.SUCCEEDED,
        finished_days_ago=3000,
    )
    sites = [
        site(registry, SITE, photo_days=0, result_days=0),
        site(registry, OTHER_SITE, photo_days=30, result_days=365),
    ]

    report = expire_media(database, folder_store, sites, now=NOW)

    assert report.sites == {
        SITE: SiteExpiry(),
        OTHER_SITE: SiteExpiry(photos_deleted=1, results_deleted=1),
    }
    assert keys_of(database, keeper.id) == (keeper.input_key, keeper.output_key)
    assert stored(folder_store, keeper.input_key)
    assert stored(folder_store, keeper.output_key)
    assert keys_of(database, other.id) == (None, None)


def test_only_a_batch_is_taken_per_call_oldest_first(
    database: Database, folder_store: MediaStore, registry: SiteRegistry
) -> None:
    user = new_user(database)
    made = [
        make(database, folder_store, user, status=Status.FAILED, finished_days_ago=40 + n)
        for n in range(5)
    ]
    sites = [site(registry, SITE, photo_days=30, result_days=0)]

    first = expire_media(database, folder_store, sites, now=NOW, batch=2)
    assert (first.photos_deleted, first.more_waiting) == (2, True)
    # The two that finished longest ago went first.
    assert [keys_of(database, m.id)[0] is None for m in made] == [False, False, False, True, True]

    second = expire_media(database, folder_store, sites, now=NOW, batch=2)
    third = expire_media(database, folder_store, sites, now=NOW, batch=2)
    assert (second.photos_deleted, second.more_waiting) == (2, True)
    assert (third.photos_deleted, third.more_waiting) == (1, False)
    assert all(keys_of(database, m.id)[0] is None for m in made)


def test_an_object_already_gone_after_a_crash_is_cleared_on_the_next_run(
    database: Database, store: MediaStore, registry: SiteRegistry
) -> None:
    """A run that died between deleting the object and clearing the key left this behind."""
    user = new_user(database)
    made = make(database, store, user, status=Status.SUCCEEDED, finished_days_ago=400)
    assert made.input_key and made.output_key
    store.delete(made.input_key)
    store.delete(made.output_key)

    report = expire_media(
        database, store, [site(registry, SITE, photo_days=30, result_days=365)], now=NOW
    )

    assert report.sites[SITE] == SiteExpiry(photos_deleted=1, results_deleted=1)
    assert keys_of(database, made.id) == (None, None)


class RefusingStore:
    """A real store whose delete fails for some keys, as a bucket refusing one object does."""

    def __init__(self, inner: MediaStore, refuse: set[str]) -> None:
        self.inner = inner
        self.refuse = refuse

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.inner.put(key, data, content_type)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def delete(self, key: str) -> None:
        if key in self.refuse:
            raise MediaUnavailable(f"refused to delete {key}")
        self.inner.delete(key)

    def check(self) -> None:
        self.inner.check()


def test_a_store_error_on_one_object_skips_it_and_the_others_still_go(
    database: Database,
    folder_store: MediaStore,
    registry: SiteRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = new_user(database)
    made = [
        make(database, folder_store, user, status=Status.SUCCEEDED, finished_days_ago=400)
        for _ in range(3)
    ]
    stuck = made[1]
    assert stuck.output_key is not None
    refusing = RefusingStore(folder_store, refuse={stuck.output_key})
    sites = [site(registry, SITE, photo_days=30, result_days=365)]

    with caplog.at_level(logging.ERROR, logger="forkable.generations.retention"):
        report = expire_media(database, refusing, sites, now=NOW)

    assert report.sites[SITE] == SiteExpiry(photos_deleted=3, results_deleted=2, failures=1)
    assert keys_of(database, stuck.id) == (None, stuck.output_key)
    assert stored(folder_store, stuck.output_key)
    for other in (made[0], made[2]):
        assert keys_of(database, other.id) == (None, None)
    [record] = caplog.records
    assert stuck.output_key in record.getMessage()
    assert record.exc_info is not None

    # The next run (the store answering again) retries it.
    retried = expire_media(database, folder_store, sites, now=NOW)
    assert retried.sites[SITE] == SiteExpiry(results_deleted=1)
    assert keys_of(database, stuck.id) == (None, None)
    assert not stored(folder_store, stuck.output_key)


class CountingStore(RefusingStore):
    """A real store that counts the deletes asked of it, from any thread."""

    def __init__(self, inner: MediaStore) -> None:
        super().__init__(inner, refuse=set())
        self.deletes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def delete(self, key: str) -> None:
        with self._lock:
            self.deletes[key] += 1
        self.inner.delete(key)


def test_runs_at_once_delete_every_object_and_count_each_once(
    database_url: str, database: Database, folder_store: MediaStore, registry: SiteRegistry
) -> None:
    """Two workers' maintenance at the same moment, each with its own engine (as processes)."""
    user = new_user(database)
    made = [
        make(database, folder_store, user, status=Status.SUCCEEDED, finished_days_ago=400 + n)
        for n in range(60)
    ]
    sites = [site(registry, SITE, photo_days=30, result_days=365)]
    store = CountingStore(folder_store)
    start = threading.Barrier(2)
    reports: list[list[RetentionReport]] = [[], []]
    errors: list[BaseException] = []

    def maintain(runs: list[RetentionReport]) -> None:
        own = Database(database_url)
        try:
            start.wait()
            while True:
                report = expire_media(own, store, sites, now=NOW, batch=7)
                runs.append(report)
                if not report.more_waiting:
                    return
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=maintain, args=(runs,)) for runs in reports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors
    every_run = [report for runs in reports for report in runs]
    assert sum(r.photos_deleted for r in every_run) == len(made)
    assert sum(r.results_deleted for r in every_run) == len(made)
    assert sum(r.failures for r in every_run) == 0
    assert all(runs for runs in reports)
    for generation in made:
        assert keys_of(database, generation.id) == (None, None)
        for key in (generation.input_key, generation.output_key):
            assert not stored(folder_store, key)
    deletes = [store.deletes[key or ""] for m in made for key in (m.input_key, m.output_key)]
    if database.is_sqlite:
        # One writer at a time: both runs may delete an object, only one clears and counts it.
        assert min(deletes) >= 1
    else:
        # Rows are claimed (SKIP LOCKED): each object is asked of the store exactly once.
        assert deletes == [1] * len(deletes)


def test_now_must_say_its_time_zone(database: Database, folder_store: MediaStore) -> None:
    with pytest.raises(ValueError, match="aware"):
        expire_media(database, folder_store, [], now=datetime(2027, 1, 1))  # noqa: DTZ001
