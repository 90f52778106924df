"""The generation row: the single source of truth for a job's state."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forkable.db.base import SITE_ID_LENGTH, Base, site_id_column
from forkable.db.types import utcnow


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class HoldState(StrEnum):
    OPEN = "open"
    CAPTURED = "captured"
    VOIDED = "voided"


class Generation(Base):
    """One photo transformed for one user, with its lease while a worker holds it."""

    __tablename__ = "generations"
    __table_args__ = (
        UniqueConstraint("site_id", "user_id", "idempotency_key"),
        Index("ix_generations_queue", "status", "created_at"),
        Index("ix_generations_user", "site_id", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = site_id_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED)
    hold_state: Mapped[str] = mapped_column(String(16), default=HoldState.OPEN)
    style: Mapped[str | None] = mapped_column(String(40), default=None)
    cost: Mapped[int] = mapped_column()
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    input_key: Mapped[str | None] = mapped_column(String(255), default=None)
    output_key: Mapped[str | None] = mapped_column(String(255), default=None)
    input_width: Mapped[int | None] = mapped_column(default=None)
    input_height: Mapped[int | None] = mapped_column(default=None)
    provider: Mapped[str | None] = mapped_column(String(64), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(default=None)
    output_tokens: Mapped[int | None] = mapped_column(default=None)
    total_tokens: Mapped[int | None] = mapped_column(default=None)
    cost_usd: Mapped[float | None] = mapped_column(default=None)
    # The provider spend admission reserved for this generation (micro-dollars), given back
    # when it ends; see SpendDay.
    reserved_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_ms: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def ref(self) -> str:
        """The ledger reference of this generation's hold."""
        return hold_ref(self.id)


def hold_ref(generation_id: str) -> str:
    """The ledger reference of a generation's hold."""
    return f"generation:{generation_id}"


class SpendDay(Base):
    """A site's provider spend on one UTC day, in micro-dollars, as admission counts it.

    ``reserved`` is what generations admitted and not yet ended are estimated to cost;
    ``spent`` is what ended ones reported. Admission adds its estimate to ``reserved`` with
    a guarded UPDATE (never past the site's daily cap), so a burst of submits cannot
    overshoot the cap; the end of a generation moves its reservation to ``spent``. Integers,
    so adding and taking back the same estimate leaves no rounding behind.
    """

    __tablename__ = "spend_days"

    site_id: Mapped[str] = mapped_column(
        String(SITE_ID_LENGTH), ForeignKey("sites.id"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reserved_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    spent_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
