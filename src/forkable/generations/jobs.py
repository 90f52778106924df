"""State changes of a generation row. Each is one transaction; the ledger moves with it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, Update, bindparam, select, update
from sqlalchemy.orm import Session

from forkable.db import Database
from forkable.db.events import GenerationFinished, StatusChanged, note
from forkable.db.types import utcnow
from forkable.generations import admission
from forkable.generations.announce import Announcer
from forkable.generations.messages import failure_message
from forkable.generations.models import Generation, HoldState, Status, hold_ref
from forkable.ledger.book import capture_hold, void_hold
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
    """A job's lease, given to a new generation's row when its request runs it (serverless)."""

    owner: str
    expires_at: datetime

    @classmethod
    def starting_now(cls, owner: str, seconds: float) -> Lease:
        return cls(owner, utcnow() + timedelta(seconds=seconds))


def _queued(*, by_id: bool) -> Select[str]:
    query = select(Generation.id).where(
        Generation.status == Status.QUEUED, Generation.deleted_at.is_(None)
    )
    if by_id:
        query = query.where(Generation.id == bindparam("p_id"))
    # SKIP LOCKED lets PostgreSQL workers pass each other; SQLite serialises writers anyway.
    return (
        query.order_by(Generation.created_at, Generation.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


# A claim's statements, built once: a statement object keeps its cache key (see ledger.book).
_NEXT_QUEUED = _queued(by_id=False)
_QUEUED_BY_ID = _queued(by_id=True)
_LEASE = (
    update(Generation)
    .where(Generation.id == bindparam("p_id"), Generation.status == Status.QUEUED)
    .values(
        status=Status.RUNNING,
        lease_owner=bindparam("p_owner"),
        lease_expires_at=bindparam("p_expires_at"),
        attempts=Generation.attempts + 1,
        started_at=bindparam("p_now"),
    )
    .returning(
        Generation.id,
        Generation.site_id,
        Generation.user_id,
        Generation.style,
        Generation.input_key,
        Generation.attempts,
    )
)


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
        connection = session.connection()  # Core, as in _finish
        if generation_id is None:
            row = connection.execute(_NEXT_QUEUED).first()
        else:
            row = connection.execute(_QUEUED_BY_ID, {"p_id": generation_id}).first()
        if row is None:
            return None
        claimed = connection.execute(
            _LEASE,
            {
                "p_id": row.id,
                "p_owner": owner,
                "p_expires_at": now + timedelta(seconds=lease_seconds),
                "p_now": now,
            },
        ).one_or_none()
        if claimed is not None:
            note(session, StatusChanged(claimed.id, Status.RUNNING))
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


@dataclass(frozen=True)
class _Ended:
    """What the end of a job needs to know of its row, read back by the UPDATE that ends it."""

    id: str
    site_id: str
    style: str | None
    provider: str | None
    cost_usd: float | None
    reserved_micro_usd: int
    created_at: datetime
    finished_at: datetime

    @property
    def hold_ref(self) -> str:
        return hold_ref(self.id)


@functools.cache
def _end_statement(value_names: tuple[str, ...], *, by_owner: bool, expired: bool) -> Update:
    """The UPDATE that ends a running job, built once per shape: a statement object keeps its
    cache key, so running it again skips building both (see ledger.book)."""
    conditions = [Generation.id == bindparam("p_id"), Generation.status == Status.RUNNING]
    if by_owner:
        conditions.append(Generation.lease_owner == bindparam("p_owner"))
    if expired:
        conditions.append(Generation.lease_expires_at < bindparam("p_expired_before"))
    return (
        update(Generation)
        .where(*conditions)
        .values({name: bindparam(f"p_{name}") for name in value_names})
        .returning(
            Generation.id,
            Generation.site_id,
            Generation.style,
            Generation.provider,
            Generation.cost_usd,
            Generation.reserved_micro_usd,
            Generation.created_at,
            Generation.finished_at,
        )
    )


def _finish(
    session: Session,
    generation_id: str,
    *,
    owner: str | None,
    values: dict[str, object],
    expired_before: datetime | None = None,
) -> _Ended | None:
    """Move a running generation to its final state, if this caller still holds it."""
    values = {**values, "lease_owner": None, "lease_expires_at": None, "finished_at": utcnow()}
    statement = _end_statement(
        tuple(sorted(values)), by_owner=owner is not None, expired=expired_before is not None
    )
    parameters = {f"p_{name}": value for name, value in values.items()}
    parameters |= {"p_id": generation_id, "p_owner": owner, "p_expired_before": expired_before}
    # Core on the session's connection: the ORM's bulk UPDATE would cost more than the SQL.
    row = session.connection().execute(statement, parameters).one_or_none()
    if row is None:
        return None
    note(session, StatusChanged(generation_id, str(values["status"])))
    return _Ended(*row)


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
        capture_hold(session, site_id=generation.site_id, hold_ref=generation.hold_ref)
        _settle_spend(session, generation)
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
        void_hold(session, site_id=generation.site_id, hold_ref=generation.hold_ref, reason=reason)
        _settle_spend(session, generation)
        note(session, _finished(generation, "failed", reason))
    return True


def _settle_spend(session: Session, generation: _Ended) -> None:
    admission.settle(
        session,
        site_id=generation.site_id,
        day=generation.created_at.date(),
        reserved_micro_usd=generation.reserved_micro_usd,
        cost_usd=generation.cost_usd,
    )


def _finished(generation: _Ended, outcome: str, reason: str | None) -> GenerationFinished:
    """What metrics learn of a generation's end, once its transaction commits."""
    waited = generation.finished_at - generation.created_at
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
    announcer: Announcer,
    expired_before: datetime | None = None,
) -> bool:
    """Back to the queue for another attempt, announced to the workers; the hold stays open."""
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
        requeued = bool(result.rowcount)  # type: ignore[attr-defined]
        if requeued:
            announcer.announce(session, generation_id)
            note(session, StatusChanged(generation_id, Status.QUEUED))
    if requeued:
        announcer.after_commit()
    return requeued


def reap(database: Database, *, max_attempts: int, announcer: Announcer) -> list[tuple[str, str]]:
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
        elif requeue(database, generation_id, owner=None, announcer=announcer, expired_before=now):
            actions.append((generation_id, "requeued"))
    return actions


def waiting_since(database: Database, before: datetime, *, limit: int) -> list[str]:
    """Queued generations created before ``before``, oldest first: those a sweep announces
    again, in case their message never reached the queue or was lost with a worker."""
    with database.session() as session:
        return list(
            session.scalars(
                select(Generation.id)
                .where(
                    Generation.status == Status.QUEUED,
                    Generation.deleted_at.is_(None),
                    Generation.created_at < before,
                )
                .order_by(Generation.created_at, Generation.id)
                .limit(limit)
            )
        )
