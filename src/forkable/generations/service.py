"""Submitting, reading, listing and deleting generations for a user."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from forkable.accounts.service import Principal
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.generations import admission
from forkable.generations.admission import AdmissionPolicy
from forkable.generations.announce import Announcer
from forkable.generations.jobs import ClaimedJob, Lease
from forkable.generations.models import Generation, Status
from forkable.generations.uploads import ValidatedImage
from forkable.ledger.book import lock_account, place_hold
from forkable.storage import MediaStore


class Conflict(Exception):
    """The generation is in a state that does not allow this."""


@dataclass(frozen=True)
class Submitted:
    generation: Generation
    created: bool  # False when an Idempotency-Key matched an earlier submission


def new_generation_id() -> str:
    return uuid.uuid4().hex


def input_key(site_id: str, generation_id: str, extension: str) -> str:
    return f"{site_id}/{generation_id[:2]}/{generation_id}-input{extension}"


def precheck(database: Database, policy: AdmissionPolicy, principal: Principal) -> None:
    """Refuse early what `submit` would refuse, before the upload is read; changes nothing."""
    with database.session() as session:
        admission.precheck(
            session, policy, site_id=principal.site_id, user_id=principal.user_id, now=utcnow()
        )


def find_by_idempotency_key(
    database: Database, principal: Principal, key: str
) -> Generation | None:
    with database.session() as session:
        return _earlier(session, principal, key)


def submit(
    database: Database,
    store: MediaStore,
    principal: Principal,
    *,
    image: ValidatedImage,
    style: str | None,
    policy: AdmissionPolicy,
    idempotency_key: str | None,
    lease: Lease | None = None,
    announcer: Announcer | None = None,
) -> Submitted:
    """Store the photo, then admit it, create the row and hold its cost in one transaction.

    Raises an `admission.Refused` or InsufficientTokens (nothing kept). With an
    Idempotency-Key already used by this user, returns the earlier generation and holds
    nothing more. With a ``lease`` the row starts out running, leased as `jobs.claim_next`
    would have leased it, for the caller to run at once; else it is queued and ``announcer``
    announces it in the same transaction (its `after_commit` is the caller's to call).
    """
    generation_id = new_generation_id()
    key = input_key(principal.site_id, generation_id, image.extension)
    store.put(key, image.data, image.media_type)
    site_id, user_id = principal.site_id, principal.user_id
    try:
        with database.transaction() as session:
            # From here to the commit this user's submits take turns (see admission).
            lock_account(session, site_id=site_id, user_id=user_id)
            earlier = _earlier(session, principal, idempotency_key)
            if earlier is not None:
                store.delete(key)
                return Submitted(earlier, created=False)
            now = utcnow()
            reserved = admission.admit(session, policy, site_id=site_id, user_id=user_id, now=now)
            generation = Generation(
                id=generation_id,
                site_id=site_id,
                user_id=user_id,
                status=Status.QUEUED,
                style=style,
                cost=policy.cost_tokens,
                idempotency_key=idempotency_key,
                input_key=key,
                input_width=image.width,
                input_height=image.height,
                reserved_micro_usd=reserved,
                created_at=now,
            )
            if lease is not None:
                generation.status = Status.RUNNING
                generation.lease_owner = lease.owner
                generation.lease_expires_at = lease.expires_at
                generation.attempts = 1
                generation.started_at = now
            session.add(generation)
            session.flush()
            place_hold(
                session,
                site_id=site_id,
                user_id=user_id,
                amount=policy.cost_tokens,
                ref=generation.ref,
            )
            if lease is None and announcer is not None:
                announcer.announce(session, generation_id)
    except BaseException:
        store.delete(key)
        raise
    return Submitted(generation, created=True)


def _earlier(session: Session, principal: Principal, key: str | None) -> Generation | None:
    if key is None:
        return None
    return session.scalar(
        select(Generation).where(
            Generation.site_id == principal.site_id,
            Generation.user_id == principal.user_id,
            Generation.idempotency_key == key,
        )
    )


def get_for(database: Database, principal: Principal, generation_id: str) -> Generation | None:
    """The generation if the principal owns it (or is an admin of its site); else None."""
    with database.session() as session:
        generation = session.scalar(
            select(Generation).where(
                Generation.id == generation_id,
                Generation.site_id == principal.site_id,
                Generation.deleted_at.is_(None),
            )
        )
    if generation is None:
        return None
    if generation.user_id != principal.user_id and not principal.is_admin:
        return None
    return generation


def statuses(database: Database, generation_ids: Collection[str]) -> dict[str, str]:
    """The status of each of ``generation_ids`` that exists and is not deleted."""
    found: dict[str, str] = {}
    ids = list(generation_ids)
    with database.session() as session:
        for start in range(0, len(ids), _IDS_PER_QUERY):
            rows = session.execute(
                select(Generation.id, Generation.status).where(
                    Generation.id.in_(ids[start : start + _IDS_PER_QUERY]),
                    Generation.deleted_at.is_(None),
                )
            )
            found.update((row.id, str(row.status)) for row in rows)
    return found


_IDS_PER_QUERY = 500  # well under the bound parameters every engine accepts


def queue_position(database: Database, generation: Generation) -> int:
    """1 for the next queued job to be claimed, 2 for the one after it, and so on.

    Counted over the whole queue, as the workers take jobs oldest first whatever the site.
    """
    with database.session() as session:
        ahead = session.scalar(
            select(func.count())
            .select_from(Generation)
            .where(
                Generation.status == Status.QUEUED,
                Generation.deleted_at.is_(None),
                or_(
                    Generation.created_at < generation.created_at,
                    and_(
                        Generation.created_at == generation.created_at,
                        Generation.id < generation.id,
                    ),
                ),
            )
        )
    return int(ahead or 0) + 1


@dataclass(frozen=True)
class Page:
    items: list[Generation]
    next_cursor: str | None


def _encode_cursor(generation: Generation) -> str:
    raw = f"{generation.created_at.isoformat()}|{generation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        created, generation_id = base64.urlsafe_b64decode(padded).decode().split("|", 1)
        return datetime.fromisoformat(created), generation_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc


def list_for(database: Database, principal: Principal, *, limit: int, cursor: str | None) -> Page:
    """The principal's generations, newest first, ``limit`` at a time."""
    query = (
        select(Generation)
        .where(
            Generation.site_id == principal.site_id,
            Generation.user_id == principal.user_id,
            Generation.deleted_at.is_(None),
        )
        .order_by(Generation.created_at.desc(), Generation.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        created, generation_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                Generation.created_at < created,
                (Generation.created_at == created) & (Generation.id < generation_id),
            )
        )
    with database.session() as session:
        rows = list(session.scalars(query))
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items=items, next_cursor=_encode_cursor(items[-1]) if more else None)


class NotOwner(Exception):
    """Only the owner may do this; an admin of the site may see the generation, not change it."""


def delete_for(
    database: Database, store: MediaStore, principal: Principal, generation_id: str
) -> bool:
    """Remove the files and hide the row (its ledger entries stay); False if not found."""
    generation = get_for(database, principal, generation_id)
    if generation is None:
        return False
    if generation.user_id != principal.user_id:
        # An admin reaches here through `get_for`: admins' actions are audited, this is not one.
        raise NotOwner("Only its owner can delete an image.")
    if generation.status in (Status.QUEUED, Status.RUNNING):
        raise Conflict("This image is still being made; delete it when it has finished.")
    with database.transaction() as session:
        session.execute(
            update(Generation)
            .where(Generation.id == generation.id, Generation.deleted_at.is_(None))
            .values(deleted_at=utcnow(), input_key=None, output_key=None)
        )
    for key in (generation.input_key, generation.output_key):
        if key:
            store.delete(key)
    return True


def started_job(generation: Generation) -> ClaimedJob:
    """The job of a generation submitted with a lease, as `jobs.claim_next` would return it."""
    if generation.input_key is None:
        raise ValueError(f"generation {generation.id} has no input")
    return ClaimedJob(
        id=generation.id,
        site_id=generation.site_id,
        user_id=generation.user_id,
        style=generation.style,
        input_key=generation.input_key,
        attempt=generation.attempts,
    )
