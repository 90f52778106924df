"""Erasing a user: the account ends, its media go, its personal data is overwritten.

The order, and why:

1. One transaction: the user's sessions end and API keys are revoked; the users row keeps its
   id (ledger entries and purchases point at it) but its address becomes a tombstone
   (`deleted-{id}@erased.invalid`), its password hash can match nothing, and it is disabled
   and marked deleted; single-use links go; unsent mails to it are dropped and sent ones lose
   their address and bodies; the audit log keeps no IP address or e-mail of it; ledger rows
   keep their amounts (a negative balance after a chargeback stays owed in the books) and
   lose the address where it was written as an actor; every generation is marked deleted,
   its file keys still on the row; the goodbye mail is queued to the old address with no
   user attached (the delivery blanks the address once sent); the audit row `user.delete`
   says who asked and how many files are to go.
2. After the commit, each photo and result is deleted from the store and only then is its key
   cleared on the row. A key still on the row of an erased user is therefore a file still to
   delete: the `Erasure` says how many (`files_pending`) and every later erasure, and
   `finish_erasures`, tries them again. A crash between the two steps leaves the account
   erased and the files findable, never a half-deleted account that looks complete.

Images still being made are not erased under a worker's feet: the erasure is refused until
they finish (a minute at most), so no result is stored after the account is gone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import cast

from sqlalchemy import CursorResult, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from forkable.account_data.tables import audit_log
from forkable.accounts.models import AccountToken, ApiKey, User, UserSession
from forkable.accounts.passwords import Passwords
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.generations.models import Generation, Status
from forkable.ledger.book import lock_account
from forkable.ledger.models import LedgerEntry
from forkable.mail.compose import MailKind, compose
from forkable.mail.models import OutboxMail
from forkable.mail.outbox import queue_mail
from forkable.sites import Site
from forkable.storage import MediaStore

logger = logging.getLogger(__name__)

# Not a hash any hasher produces: no password ever matches it.
UNUSABLE_PASSWORD_HASH = "!erased"  # noqa: S105 (a marker, not a password)
TOMBSTONE_DOMAIN = "erased.invalid"


class UnknownUser(Exception):
    """No live (not erased) user with that id on that site."""


class WrongPassword(Exception):
    """The password given to confirm the erasure is not the user's."""


class StillWorking(Exception):
    """An image of the user is queued or being made; erase when it has finished."""


@dataclass(frozen=True)
class Requester:
    """Who asked for the erasure, as its audit row names them."""

    by: str  # "self", "cli" or "admin"
    actor: str  # the label in the audit log: "self", "cli", or an admin's address
    actor_user_id: int | None = None
    ip: str | None = None  # an admin's; never the erased user's own


@dataclass(frozen=True)
class Erasure:
    user_id: int
    photos_deleted: int
    results_deleted: int
    # Files the store refused to delete; their keys stay on the rows and are tried again.
    files_pending: int

    @property
    def complete(self) -> bool:
        return self.files_pending == 0


def tombstone(user_id: int) -> str:
    return f"deleted-{user_id}@{TOMBSTONE_DOMAIN}"


def check_password(
    database: Database, passwords: Passwords, *, site_id: str, user_id: int, password: str
) -> None:
    """WrongPassword unless ``password`` is the live user's (PasswordsBusy when no slot)."""
    with database.session() as session:
        password_hash = session.scalar(
            select(User.password_hash).where(
                User.id == user_id, User.site_id == site_id, User.deleted_at.is_(None)
            )
        )
    if not passwords.verify(password_hash, password):
        raise WrongPassword


def erase_account(
    database: Database,
    store: MediaStore,
    site: Site,
    *,
    user_id: int,
    requester: Requester,
    base_url: str | None = None,
) -> Erasure:
    """Erase the user ``user_id`` of ``site`` (see the module's notes for the order).

    UnknownUser or StillWorking change nothing.
    """
    with database.transaction() as session:
        keys = _erase_rows(session, site, user_id=user_id, requester=requester, base_url=base_url)
    photos, results, pending = _delete_objects(database, store, keys)
    if pending:
        logger.warning(
            "erasure of user %s: %d file(s) could not be deleted yet; they are tried again",
            user_id,
            pending,
        )
    return Erasure(
        user_id=user_id, photos_deleted=photos, results_deleted=results, files_pending=pending
    )


def finish_erasures(database: Database, store: MediaStore, *, batch: int = 500) -> int:
    """Delete the files erased users still have in the store; how many remain after."""
    with database.session() as session:
        rows = session.execute(
            select(Generation.id, Generation.input_key, Generation.output_key)
            .join(User, User.id == Generation.user_id)
            .where(
                User.deleted_at.is_not(None),
                or_(Generation.input_key.is_not(None), Generation.output_key.is_not(None)),
            )
            .limit(batch)
        ).all()
    keys = [(row[0], row[1], row[2]) for row in rows]
    return _delete_objects(database, store, keys)[2]


def _erase_rows(
    session: Session,
    site: Site,
    *,
    user_id: int,
    requester: Requester,
    base_url: str | None,
) -> list[tuple[str, str | None, str | None]]:
    """Step 1, in the caller's transaction; the (generation, photo, result) keys to delete."""
    user = session.scalar(
        select(User)
        .where(User.id == user_id, User.site_id == site.id, User.deleted_at.is_(None))
        .with_for_update()
    )
    if user is None:
        raise UnknownUser(user_id)
    # Submits lock the account too: none slips in between this check and the commit.
    lock_account(session, site_id=site.id, user_id=user_id)
    in_flight = session.scalar(
        select(func.count())
        .select_from(Generation)
        .where(
            Generation.user_id == user_id,
            Generation.deleted_at.is_(None),
            Generation.status.in_((Status.QUEUED, Status.RUNNING)),
        )
    )
    if in_flight:
        raise StillWorking(user_id)
    old_address, new_address, now = user.email, tombstone(user_id), utcnow()

    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id)
        .values(revoked_at=func.coalesce(ApiKey.revoked_at, now), name="erased")
    )
    session.execute(delete(AccountToken).where(AccountToken.user_id == user_id))
    user.email = new_address
    user.password_hash = UNUSABLE_PASSWORD_HASH
    user.is_admin = False
    user.email_verified_at = None
    user.disabled_at = user.disabled_at or now
    user.deleted_at = now

    keys = [
        (row[0], row[1], row[2])
        for row in session.execute(
            select(Generation.id, Generation.input_key, Generation.output_key).where(
                Generation.user_id == user_id,
                or_(Generation.input_key.is_not(None), Generation.output_key.is_not(None)),
            )
        )
    ]
    session.execute(
        update(Generation)
        .where(Generation.user_id == user_id, Generation.deleted_at.is_(None))
        .values(deleted_at=now, idempotency_key=None)
    )
    _scrub_mail(session, site.id, user_id, old_address, new_address)
    _scrub_address(session, site.id, user_id, old_address, new_address)

    goodbye = compose(site, MailKind.ACCOUNT_DELETED, to=old_address, base_url=base_url)
    # No user_id: nothing links the address to the erased account, and delivery blanks it.
    queue_mail(session, goodbye, site_id=site.id, event_key=f"account-deleted:{user_id}")

    details = {
        "by": requester.by,
        "photos": sum(1 for _, photo, _ in keys if photo),
        "results": sum(1 for _, _, result in keys if result),
    }
    session.execute(
        insert(audit_log).values(
            site_id=site.id,
            actor_user_id=requester.actor_user_id,
            actor=requester.actor,
            action="user.delete",
            target_type="user",
            target_id=str(user_id),
            details=json.dumps(details, sort_keys=True),
            ip=requester.ip,
            created_at=now,
        )
    )
    return keys


def _scrub_mail(
    session: Session, site_id: str, user_id: int, old_address: str, new_address: str
) -> None:
    """Unsent mail to the user is dropped; sent mail keeps its row without address or body."""
    to_user = or_(OutboxMail.user_id == user_id, OutboxMail.to_address == old_address)
    session.execute(
        delete(OutboxMail).where(
            OutboxMail.site_id == site_id, to_user, OutboxMail.sent_at.is_(None)
        )
    )
    session.execute(
        update(OutboxMail)
        .where(OutboxMail.site_id == site_id, to_user)
        .values(to_address=new_address, body_text=None, body_html=None, user_id=None)
    )


def _scrub_address(
    session: Session, site_id: str, user_id: int, old_address: str, new_address: str
) -> None:
    """The audit log and the ledger keep what happened and the amounts, not who by address.

    The audit log names a user acting (an admin) by address and IP; ledger grants name the
    admin who made them. Those texts become the tombstone; amounts and references stay.
    """
    session.execute(
        update(audit_log)
        .where(audit_log.c.actor_user_id == user_id)
        .values(actor=new_address, ip=None)
    )
    session.execute(
        update(audit_log)
        .where(audit_log.c.site_id == site_id, audit_log.c.actor == old_address)
        .values(actor=new_address, ip=None)
    )
    mentions = session.execute(
        select(audit_log.c.id, audit_log.c.details).where(
            audit_log.c.site_id == site_id,
            audit_log.c.details.contains(old_address, autoescape=True),
        )
    ).all()
    for entry_id, details in mentions:
        session.execute(
            update(audit_log)
            .where(audit_log.c.id == entry_id)
            .values(details=details.replace(old_address, new_address))
        )
    session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.site_id == site_id, LedgerEntry.actor == old_address)
        .values(actor=new_address)
    )
    reasons = session.execute(
        select(LedgerEntry.id, LedgerEntry.reason).where(
            LedgerEntry.site_id == site_id,
            LedgerEntry.reason.contains(old_address, autoescape=True),
        )
    ).all()
    for entry_id, reason in reasons:
        if reason is None:
            continue
        session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.id == entry_id)
            .values(reason=reason.replace(old_address, new_address))
        )


def _delete_objects(
    database: Database, store: MediaStore, keys: list[tuple[str, str | None, str | None]]
) -> tuple[int, int, int]:
    """Step 2: each object from the store, then its key off the row; (photos, results, left).

    No transaction stays open across a store call (the `db:` store writes in its own, and
    SQLite has one writer).
    """
    photos = results = pending = 0
    for generation_id, photo, result in keys:
        for column, key in ((Generation.input_key, photo), (Generation.output_key, result)):
            if key is None:
                continue
            try:
                store.delete(key)
            except Exception:
                logger.exception("erasure: could not delete %s; it is tried again", key)
                pending += 1
                continue
            with database.transaction() as session:
                cleared = session.execute(
                    update(Generation)
                    .where(Generation.id == generation_id, column == key)
                    .values({column.key: None})
                )
            if cast(CursorResult[object], cleared).rowcount:
                if column is Generation.input_key:
                    photos += 1
                else:
                    results += 1
    return photos, results, pending
