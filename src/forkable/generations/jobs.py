"""State changes of a generation row. Each is one transaction; the ledger moves with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forkable.db import Database
from forkable.db.types import utcnow
from forkable.generations.messages import failure_message
from forkable.generations.models import Generation, HoldState, Status
from forkable.ledger.book import capture_hold, void_hold
from forkable.ops.facts import GenerationFinished, note
from forkable.providers.base import DEADLINE, Usage


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    site_id: str
    user_id: int
    style: str | None
    input_key: str
    attempt: int


@dataclass(frozen=True)
class Lease:
    """A job's lease, given to a new generation's row when a worker will start it at once."""

    owner: str
    expires_at: datetime

    @classmethod
    def starting_now(cls, owner: str, seconds: float) -> Lease:
        return cls(owner, utcnow() + timedelta(seconds=seconds))


def claim_next(
    database: Database, *, owner: str, lease_seconds: float, generation_id: str | None = None
) -> ClaimedJob | None:
    """Lease the oldest queued generation (or the one named) to ``owner``; None if none.

    The claim does not wait for the disk: if a power cut undoes it, the job is queued again
    with its earlier attempt count, as the reaper would have left it (its hold is untouched).
    A later durable commit (the job's end) writes it to disk first in any case.
    """
    now = utcnow()
    with database.transaction(durable=False) as session:
        # SKIP LOCKED lets PostgreSQL workers pass each other; SQLite serialises writers anyway.
        query = select(Generation.id).where(
            Generation.status == Status.QUEUED, Generation.deleted_at.is_(None)
        )
        if generation_id is not None:
            query = query.where(Generation.id == generation_id)
        row = session.execute(
            query.order_by(Generation.created_at, Generation.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        claimed = session.execute(
            update(Generation)
            .where(Generation.id == row.id, Generation.status == Status.QUEUED)
            .values(
                status=Status.RUNNING,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Generation.attempts + 1,
                started_at=now,
            )
            .returning(
                Generation.id,
                Generation.site_id,
                Generation.user_id,
                Generation.style,
                Generation.input_key,
                Generation.attempts,
            )
        ).one_or_none()
    if claimed is None or claimed.input_key is None:
        return None
    return ClaimedJob(
        id=claimed.id,
        site_id=claimed.site_id,
        user_id=claimed.user_id,
        style=claimed.style,
        input_key=claimed.input_key,
        attempt=claimed.attempts,
    )


def renew_leases(database: Database, *, owner: str, ids: list[str], lease_seconds: float) -> None:
    if not ids:
        return
    with database.transaction() as session:
        session.execute(
            update(Generation)
            .where(
                Generation.id.in_(ids),
                Generation.lease_owner == owner,
                Generation.status == Status.RUNNING,
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )


def _finish(
    session: Session,
    generation_id: str,
    *,
    owner: str | None,
    values: dict[str, object],
    expired_before: datetime | None = None,
) -> Generation | None:
    """Move a running generation to its final state, if this caller still holds it."""
    conditions = [Generation.id == generation_id, Generation.status == Status.RUNNING]
    if owner is not None:
        conditions.append(Generation.lease_owner == owner)
    if expired_before is not None:
        conditions.append(Generation.lease_expires_at < expired_before)
    now = utcnow()
    row = session.execute(
        update(Generation)
        .where(*conditions)
        .values(lease_owner=None, lease_expires_at=None, finished_at=now, **values)
        .returning(Generation)
    ).scalar_one_or_none()
    return row


def complete(
    database: Database,
    generation_id: str,
    *,
    owner: str,
    provider: str,
    output_key: str,
    usage: Usage,
    duration_ms: int,
) -> bool:
    """Succeeded, and the hold captured; False when the lease was lost meanwhile."""
    with database.transaction() as session:
        generation = _finish(
            session,
            generation_id,
            owner=owner,
            values={
                "status": Status.SUCCEEDED,
                "hold_state": HoldState.CAPTURED,
                "output_key": output_key,
                "provider": provider,
                "prompt_tokens": usage.prompt_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
                "cost_usd": usage.cost_usd,
                "duration_ms": duration_ms,
                "error": None,
                "error_code": None,
            },
        )
        if generation is None:
            return False
        capture_hold(session, site_id=generation.site_id, hold_ref=generation.ref)
        note(session, _finished(generation, "succeeded", None))
    return True


def fail(
    database: Database,
    generation_id: str,
    *,
    owner: str | None,
    reason: str,
    provider: str | None = None,
    expired_before: datetime | None = None,
    usage: Usage | None = None,
) -> bool:
    """Failed, and the hold voided (tokens back) exactly once; False if not ours to fail."""
    usage = usage or Usage()
    with database.transaction() as session:
        generation = _finish(
            session,
            generation_id,
            owner=owner,
            expired_before=expired_before,
            values={
                "status": Status.FAILED,
                "hold_state": HoldState.VOIDED,
                "error_code": reason,
                "error": failure_message(reason),
                "provider": provider,
                "prompt_tokens": usage.prompt_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
                "cost_usd": usage.cost_usd,
            },
        )
        if generation is None:
            return False
        void_hold(session, site_id=generation.site_id, hold_ref=generation.ref, reason=reason)
        note(session, _finished(generation, "failed", reason))
    return True


def _finished(generation: Generation, outcome: str, reason: str | None) -> GenerationFinished:
    """What metrics learn of a generation's end, once its transaction commits."""
    waited = (generation.finished_at or utcnow()) - generation.created_at
    return GenerationFinished(
        site_id=generation.site_id,
        provider=generation.provider,
        style=generation.style,
        outcome=outcome,
        reason=reason,
        seconds=waited.total_seconds(),
        cost_usd=generation.cost_usd,
    )


def requeue(
    database: Database,
    generation_id: str,
    *,
    owner: str | None,
    expired_before: datetime | None = None,
) -> bool:
    """Back to the queue for another attempt; the hold stays open."""
    conditions = [Generation.id == generation_id, Generation.status == Status.RUNNING]
    if owner is not None:
        conditions.append(Generation.lease_owner == owner)
    if expired_before is not None:
        conditions.append(Generation.lease_expires_at < expired_before)
    with database.transaction() as session:
        result = session.execute(
            update(Generation)
            .where(*conditions)
            .values(status=Status.QUEUED, lease_owner=None, lease_expires_at=None)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(database: Database, generation_id: str, *, owner: str) -> bool:
    """Back to the queue as it was before ``owner`` leased it; for a job it never started.

    The attempt the lease counted is given back. Like a claim this does not wait for the
    disk: if a power cut undoes it, the job is still leased and the reaper requeues it.
    """
    with database.transaction(durable=False) as session:
        result = session.execute(
            update(Generation)
            .where(
                Generation.id == generation_id,
                Generation.status == Status.RUNNING,
                Generation.lease_owner == owner,
            )
            .values(
                status=Status.QUEUED,
                lease_owner=None,
                lease_expires_at=None,
                started_at=None,
                attempts=Generation.attempts - 1,
            )
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def reap(database: Database, *, max_attempts: int) -> list[tuple[str, str]]:
    """Expired leases go back to the queue, or fail (tokens back) after the last attempt."""
    now = utcnow()
    with database.session() as session:
        expired = session.execute(
            select(Generation.id, Generation.attempts).where(
                Generation.status == Status.RUNNING, Generation.lease_expires_at < now
            )
        ).all()
    actions: list[tuple[str, str]] = []
    for generation_id, attempts in expired:
        if attempts >= max_attempts:
            if fail(database, generation_id, owner=None, reason=DEADLINE, expired_before=now):
                actions.append((generation_id, "failed"))
        elif requeue(database, generation_id, owner=None, expired_before=now):
            actions.append((generation_id, "requeued"))
    return actions
