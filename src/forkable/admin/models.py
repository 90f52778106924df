"""The audit log: who did what, when, to whom. Written in the same transaction as the action."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from forkable.db.base import Base
from forkable.db.types import utcnow


class AuditEntry(Base):
    """One administrative action. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_site_time", "site_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for operator actions that are not about one site (e.g. from the command line).
    site_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("sites.id"), default=None)
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    actor: Mapped[str] = mapped_column(String(254))  # e-mail of the admin, or "cli"
    action: Mapped[str] = mapped_column(String(64))  # e.g. tokens.grant, user.disable
    target_type: Mapped[str | None] = mapped_column(String(32), default=None)
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[str | None] = mapped_column(Text, default=None)  # JSON
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
