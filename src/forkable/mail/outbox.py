"""Queueing a mail: a row in the caller's transaction, so it exists exactly when the event does."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forkable.db.types import utcnow
from forkable.mail.compose import Mail
from forkable.mail.models import OutboxMail


def queue_mail(
    session: Session,
    mail: Mail,
    *,
    site_id: str,
    event_key: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Add ``mail`` to the outbox in the caller's transaction; False when ``event_key`` (per
    site) already queued one, so an event that is retried or replayed mails once."""
    exists = session.scalar(
        select(OutboxMail.id).where(
            OutboxMail.site_id == site_id, OutboxMail.event_key == event_key
        )
    )
    if exists is not None:
        return False
    at = now or utcnow()
    row = OutboxMail(
        id=uuid.uuid4().hex,
        site_id=site_id,
        user_id=user_id,
        kind=mail.kind.value,
        event_key=event_key,
        to_address=mail.to,
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        created_at=at,
        next_attempt_at=at,
    )
    # The unique (site, event) index settles a race between two transactions: the one that
    # loses waits for the winner's commit, then undoes only its own insert.
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True
