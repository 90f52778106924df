"""Token accounts and their append-only entries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forkable.db.base import Base, site_id_column
from forkable.db.types import utcnow


class EntryKind(StrEnum):
    SIGNUP_BONUS = "signup_bonus"
    PURCHASE = "purchase"
    GENERATION_HOLD = "generation_hold"
    GENERATION_CAPTURE = "generation_capture"
    GENERATION_VOID = "generation_void"
    ADMIN_GRANT = "admin_grant"
    CLAWBACK = "clawback"


class TokenAccount(Base):
    """The cached balance of one user; always equal to the sums of its entries.

    `balance` counts tokens owned; `held` counts tokens reserved by generations in flight.
    What the user can spend is `balance - held`.
    """

    __tablename__ = "token_accounts"
    __table_args__ = (CheckConstraint("held >= 0", name="held_not_negative"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    site_id: Mapped[str] = site_id_column()
    balance: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def available(self) -> int:
        return self.balance - self.held


class LedgerEntry(Base):
    """One change to an account. Never updated, never deleted.

    `amount` changes the balance and `held_delta` the held tokens; `ref` is the idempotency
    reference, unique per site, so the same business event can never be booked twice.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("site_id", "ref"),
        Index("ix_ledger_entries_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = site_id_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column()
    held_delta: Mapped[int] = mapped_column(default=0)
    balance_after: Mapped[int] = mapped_column()
    held_after: Mapped[int] = mapped_column()
    ref: Mapped[str] = mapped_column(String(128))
    hold_ref: Mapped[str | None] = mapped_column(String(128), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def available_delta(self) -> int:
        """How this entry changed what the user can spend."""
        return self.amount - self.held_delta

    @property
    def available_after(self) -> int:
        return self.balance_after - self.held_after
