"""Delivering the outbox: due rows claimed in batches, sent, and marked sent, retried or failed.

A row is claimed by setting `claimed_until` (PostgreSQL skips rows another deliverer has
locked, SQLite has one writer), so two deliverers never send the same row. A temporary failure
(connection refused, timeout, 4xx) waits 30 s, then twice as long each time up to an hour, for
three days; a permanent refusal of the recipient (5xx) ends the row at once. A row is marked
sent only after the server took the mail, so nothing is lost while SMTP is down; a crash between
the two sends it once more after its claim expires, with the same Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, column, exists, or_, select, table, update

from forkable.db import Database
from forkable.db.types import utcnow
from forkable.mail.message import build_message
from forkable.mail.models import OutboxMail
from forkable.mail.transports import SendFailed, Transport
from forkable.sites import SiteRegistry

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 30.0
LONGEST_RETRY_SECONDS = 3600.0
GIVE_UP_AFTER = timedelta(days=3)
BATCH = 20
# Long enough for a batch of slow sends; a deliverer stops taking rows from its batch before
# its claim runs out, so another one that claims them later never sends them twice.
CLAIM_SECONDS = 300.0
CLAIM_MARGIN_SECONDS = 60.0

# The users table, named here without importing the accounts package (a higher layer): a row
# of an erased user keeps no address once sent.
_USERS = table("users", column("id"), column("deleted_at"))


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.sent + other.sent, self.retried + other.retried, self.failed + other.failed
        )

    def __bool__(self) -> bool:
        return bool(self.sent or self.retried or self.failed)


@dataclass(frozen=True)
class _Claimed:
    id: str
    site_id: str
    kind: str
    to_address: str
    subject: str
    body_text: str | None
    body_html: str | None
    created_at: datetime
    attempts: int


def retry_delay(attempts: int) -> timedelta:
    """How long a row waits after its ``attempts``-th failed attempt: 30 s, doubling, ≤ 1 h."""
    seconds = FIRST_RETRY_SECONDS * 2 ** min(max(attempts - 1, 0), 20)
    return timedelta(seconds=min(seconds, LONGEST_RETRY_SECONDS))


class MailDelivery:
    """Sends the outbox's due rows through ``transport``; safe in several processes at once."""

    def __init__(
        self,
        *,
        database: Database,
        sites: SiteRegistry,
        transport: Transport,
        mail_from: str | None = None,
        batch: int = BATCH,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.sites = sites
        self.transport = transport
        self.mail_from = mail_from
        self.batch = batch
        self.clock = clock

    def deliver_due(self, *, max_batches: int = 10) -> DeliveryReport:
        """Send what is due now, a batch at a time, until nothing is due (or ``max_batches``)."""
        report = DeliveryReport()
        for _ in range(max_batches):
            claimed, until = self._claim(self.clock())
            if not claimed:
                break
            batch = self._send_batch(claimed, until)
            report += batch
            # Nothing went and something must wait: the server is likely down, and trying
            # every other due row now would only wait out one timeout each.
            if len(claimed) < self.batch or (batch.retried and not batch.sent):
                break
        if report:
            logger.info(
                "mail: %d sent, %d to retry, %d failed", report.sent, report.retried, report.failed
            )
        return report

    def _claim(self, now: datetime) -> tuple[list[_Claimed], datetime]:
        until = now + timedelta(seconds=CLAIM_SECONDS)
        due = (
            select(OutboxMail.id)
            .where(
                OutboxMail.sent_at.is_(None),
                OutboxMail.failed_at.is_(None),
                OutboxMail.next_attempt_at <= now,
                or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now),
            )
            .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
            .limit(self.batch)
            # SKIP LOCKED lets PostgreSQL deliverers pass each other; SQLite serialises writers.
            .with_for_update(skip_locked=True)
        )
        with self.database.transaction() as session:
            ids = list(session.scalars(due))
            if not ids:
                return [], until
            session.execute(
                update(OutboxMail).where(OutboxMail.id.in_(ids)).values(claimed_until=until)
            )
            rows = session.execute(
                select(
                    OutboxMail.id,
                    OutboxMail.site_id,
                    OutboxMail.kind,
                    OutboxMail.to_address,
                    OutboxMail.subject,
                    OutboxMail.body_text,
                    OutboxMail.body_html,
                    OutboxMail.created_at,
                    OutboxMail.attempts,
                )
                .where(OutboxMail.id.in_(ids))
                .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
            ).all()
        return [_Claimed(*row) for row in rows], until

    def _send_batch(self, claimed: list[_Claimed], until: datetime) -> DeliveryReport:
        sent = retried = failed = 0
        stop_at = until - timedelta(seconds=CLAIM_MARGIN_SECONDS)
        for index, row in enumerate(claimed):
            now = self.clock()
            if now >= stop_at:
                self._release([left.id for left in claimed[index:]], until)
                break
            outcome = self._send_one(row, until, now)
            sent += outcome == "sent"
            retried += outcome == "retried"
            failed += outcome == "failed"
        return DeliveryReport(sent, retried, failed)

    def _send_one(self, row: _Claimed, until: datetime, now: datetime) -> str:
        site = self.sites.get(row.site_id)
        if site is None:
            return self._failed_attempt(row, until, now, f"site {row.site_id} is not served here")
        if row.body_text is None or row.body_html is None:
            return self._refused(row, until, now, "the mail has no body")
        outgoing = build_message(
            site,
            outbox_id=row.id,
            kind=row.kind,
            to=row.to_address,
            subject=row.subject,
            text=row.body_text,
            html=row.body_html,
            mail_from=self.mail_from,
            at=now,
        )
        try:
            self.transport.send(outgoing)
        except SendFailed as exc:
            if exc.refused:
                return self._refused(row, until, now, str(exc))
            return self._failed_attempt(row, until, now, str(exc))
        except Exception as exc:  # a bug must not lose the mail: it is tried again
            logger.exception("mail %s: the transport failed", row.id)
            return self._failed_attempt(row, until, now, f"{type(exc).__name__}: {exc}")
        self._mark_sent(row, now)
        return "sent"

    def _mark_sent(self, row: _Claimed, now: datetime) -> None:
        # The bodies hold single-use links, and an erased user's address is personal data.
        erased = or_(
            OutboxMail.user_id.is_(None),
            exists().where(_USERS.c.id == OutboxMail.user_id, _USERS.c.deleted_at.is_not(None)),
        )
        with self.database.transaction() as session:
            session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == row.id, OutboxMail.sent_at.is_(None))
                .values(
                    sent_at=now,
                    attempts=OutboxMail.attempts + 1,
                    body_text=None,
                    body_html=None,
                    claimed_until=None,
                    last_error=None,
                    to_address=case((erased, ""), else_=OutboxMail.to_address),
                )
            )

    def _failed_attempt(self, row: _Claimed, until: datetime, now: datetime, error: str) -> str:
        """A temporary failure: again later, or failed for good after three days of trying."""
        if now - row.created_at >= GIVE_UP_AFTER:
            return self._refused(row, until, now, f"gave up after 3 days: {error}")
        attempts = row.attempts + 1
        self._update(
            row,
            until,
            attempts=attempts,
            next_attempt_at=now + retry_delay(attempts),
            last_error=_one_line(error),
            claimed_until=None,
        )
        logger.warning("mail %s: attempt %d failed, tried again later: %s", row.id, attempts, error)
        return "retried"

    def _refused(self, row: _Claimed, until: datetime, now: datetime, error: str) -> str:
        self._update(
            row,
            until,
            attempts=row.attempts + 1,
            failed_at=now,
            last_error=_one_line(error),
            claimed_until=None,
        )
        logger.warning("mail %s (%s) failed for good: %s", row.id, row.kind, error)
        return "failed"

    def _update(self, row: _Claimed, until: datetime, **values: object) -> None:
        # Only while this deliverer's claim holds: a claim that ran out is someone else's.
        with self.database.transaction() as session:
            session.execute(
                update(OutboxMail)
                .where(
                    OutboxMail.id == row.id,
                    OutboxMail.sent_at.is_(None),
                    OutboxMail.claimed_until == until,
                )
                .values(**values)
            )

    def _release(self, ids: list[str], until: datetime) -> None:
        with self.database.transaction() as session:
            session.execute(
                update(OutboxMail)
                .where(OutboxMail.id.in_(ids), OutboxMail.claimed_until == until)
                .values(claimed_until=None)
            )


def _one_line(error: str, limit: int = 500) -> str:
    line = " ".join(error.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
