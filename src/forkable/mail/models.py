"""The outbox: one row per mail to send, written with the event that causes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forkable.db.base import Base, site_id_column
from forkable.db.types import utcnow


class OutboxMail(Base):
    """A mail waiting to go out, or gone. ``event_key`` is unique per site, so one event
    (a sign-up, a reset request, a purchase) queues its mail once however often it is retried.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (
        UniqueConstraint("site_id", "event_key"),
        Index("ix_mail_outbox_due", "sent_at", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # also the Message-ID's
    site_id: Mapped[str] = site_id_column()
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(128))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    # The bodies hold single-use links: cleared once the mail is sent.
    body_text: Mapped[str | None] = mapped_column(Text, default=None)
    body_html: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # A sender holds the row until then, so two senders never send it both.
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_at: Mapped[datetime | None] = mapped_column(default=None)  # refused for good
