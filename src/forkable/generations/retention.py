"""Media retention: deleting the photos and results a site's `[retention]` days have outlived.

One call does a bounded amount of work and is meant to be repeated by periodic maintenance.
For each object the order is: delete it from the store, then clear its key on the row with a
guarded UPDATE (only if the row still names that key). A crash between the two leaves a key
whose object is gone, and the next run deletes the missing object again, which every store
allows. Runs at once never count an object twice: only the run whose UPDATE clears the key
counts it. On PostgreSQL they also never delete the same object twice (see `_claim_each`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, CursorResult, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from forkable.db import Database
from forkable.generations.models import Generation, Status
from forkable.sites import Site
from forkable.storage import MediaStore

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 500
_FINISHED = (Status.SUCCEEDED, Status.FAILED)


@dataclass(frozen=True)
class SiteExpiry:
    """What one call did for one site."""

    photos_deleted: int = 0
    results_deleted: int = 0
    # Objects the store refused to delete this time (logged); the next call tries them again.
    failures: int = 0
    # A query came back full: more expired media may be waiting beyond this call's batch.
    more_waiting: bool = False


@dataclass(frozen=True)
class RetentionReport:
    """What one `expire_media` call did, per site id (every site passed in has an entry)."""

    sites: Mapping[str, SiteExpiry]

    @property
    def photos_deleted(self) -> int:
        return sum(site.photos_deleted for site in self.sites.values())

    @property
    def results_deleted(self) -> int:
        return sum(site.results_deleted for site in self.sites.values())

    @property
    def failures(self) -> int:
        return sum(site.failures for site in self.sites.values())

    @property
    def more_waiting(self) -> bool:
        """Whether a call soon would find more to delete (some site had a full batch)."""
        return any(site.more_waiting for site in self.sites.values())


@dataclass(frozen=True)
class _Pass:
    cleared: int
    failures: int
    full: bool


def expire_media(
    database: Database,
    store: MediaStore,
    sites: Iterable[Site],
    *,
    now: datetime,
    batch: int = DEFAULT_BATCH,
) -> RetentionReport:
    """Delete the photos and results of finished generations older than each site's days.

    A generation counts from its ``finished_at`` (succeeded or failed). Queued, running and
    deleted generations are left alone, and so are sites whose days are 0. At most ``batch``
    photos and ``batch`` results are taken per site per call. A store error on one object is
    logged and skipped; the others still go. Safe to run from several processes at once.
    """
    if now.tzinfo is None:
        raise ValueError("expire_media needs an aware datetime for `now` (UTC)")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    report: dict[str, SiteExpiry] = {}
    for site in sites:
        retention = site.manifest.retention
        photos = _expire(
            database, store, site.id, Generation.input_key, retention.photo_days, now, batch
        )
        results = _expire(
            database, store, site.id, Generation.output_key, retention.result_days, now, batch
        )
        report[site.id] = SiteExpiry(
            photos_deleted=photos.cleared,
            results_deleted=results.cleared,
            failures=photos.failures + results.failures,
            more_waiting=photos.full or results.full,
        )
    return RetentionReport(sites=report)


def _expire(
    database: Database,
    store: MediaStore,
    site_id: str,
    column: InstrumentedAttribute[str | None],
    days: int,
    now: datetime,
    batch: int,
) -> _Pass:
    """One site, one kind of media (the photo or the result key column)."""
    if days <= 0:
        return _Pass(cleared=0, failures=0, full=False)
    cutoff = now - timedelta(days=days)
    with database.session() as session:
        rows = session.execute(
            select(Generation.id, column)
            .where(
                Generation.site_id == site_id,
                Generation.status.in_(_FINISHED),
                Generation.deleted_at.is_(None),
                Generation.finished_at < cutoff,
                column.is_not(None),
            )
            .order_by(Generation.finished_at, Generation.id)
            .limit(batch)
        ).all()
    found = [(generation_id, key) for generation_id, key in rows if key is not None]
    expire = _claim_each if not database.is_sqlite else _delete_all_then_clear
    cleared, failures = expire(database, store, column, found)
    return _Pass(cleared=cleared, failures=failures, full=len(rows) == batch)


def _claim_each(
    database: Database,
    store: MediaStore,
    column: InstrumentedAttribute[str | None],
    found: list[tuple[str, str]],
) -> tuple[int, int]:
    """PostgreSQL: each object is deleted by one run only.

    The row is locked (SKIP LOCKED) for the time of one store call, so a run at the same
    moment passes over it to the next one instead of deleting the same object again.
    """
    cleared = failures = 0
    for generation_id, key in found:
        with database.transaction() as session:
            claimed = session.scalar(
                select(Generation.id)
                .where(*_still_holding(column, generation_id, key))
                .with_for_update(skip_locked=True)
            )
            if claimed is None:
                continue  # another run has it, or has already cleared it
            if not _delete(store, generation_id, key):
                failures += 1
                continue
            cleared += _clear(session, column, generation_id, key)
    return cleared, failures


def _delete_all_then_clear(
    database: Database,
    store: MediaStore,
    column: InstrumentedAttribute[str | None],
    found: list[tuple[str, str]],
) -> tuple[int, int]:
    """SQLite: the objects first, then every key in one transaction.

    SQLite has one writer at a time, and the `db:` store writes in a transaction of its own,
    so no write transaction may stay open across a store call. Two runs at once may both
    delete an object (every store allows deleting a missing one); only one clears its key.
    """
    gone: list[tuple[str, str]] = []
    failures = 0
    for generation_id, key in found:
        if _delete(store, generation_id, key):
            gone.append((generation_id, key))
        else:
            failures += 1
    cleared = 0
    if gone:
        with database.transaction() as session:
            for generation_id, key in gone:
                cleared += _clear(session, column, generation_id, key)
    return cleared, failures


def _still_holding(
    column: InstrumentedAttribute[str | None], generation_id: str, key: str
) -> tuple[ColumnElement[bool], ...]:
    """The row still names this key: no other run cleared it, no user deleted the image."""
    return (Generation.id == generation_id, column == key, Generation.deleted_at.is_(None))


def _clear(
    session: Session, column: InstrumentedAttribute[str | None], generation_id: str, key: str
) -> int:
    """Clear the key of a deleted object if the row still names it; 1 if this call did."""
    result = session.execute(
        update(Generation)
        .where(*_still_holding(column, generation_id, key))
        .values({column.key: None})
    )
    return cast(CursorResult[object], result).rowcount


def _delete(store: MediaStore, generation_id: str, key: str) -> bool:
    """Delete one object; a store error is logged and reported as False (retried next run)."""
    try:
        store.delete(key)
    except Exception:
        logger.exception(
            "retention: could not delete %s of generation %s; the next run tries again",
            key,
            generation_id,
        )
        return False
    return True
