"""Purchases of token packs and the Stripe events seen for them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from forkable.db.base import Base, site_id_column
from forkable.db.types import utcnow


class PurchaseStatus(StrEnum):
    PENDING = "pending"  # checkout started, not paid yet
    PROCESSING = "processing"  # completed with a delayed payment method, not settled yet
    PAID = "paid"  # tokens credited
    FAILED = "failed"  # the delayed payment failed, or checkout could not start
    EXPIRED = "expired"  # the checkout session expired unpaid
    REFUNDED = "refunded"  # paid, then refunded: tokens clawed back
    DISPUTED = "disputed"  # paid, then disputed: tokens clawed back


class Purchase(Base):
    """One attempt to buy one pack. Its id is the idempotency key of everything after it."""

    __tablename__ = "purchases"
    __table_args__ = (Index("ix_purchases_user", "site_id", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = site_id_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    pack_id: Mapped[str] = mapped_column(String(40))
    pack_name: Mapped[str] = mapped_column(String(80))
    tokens: Mapped[int] = mapped_column()
    amount_cents: Mapped[int] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(16))  # "stripe" or "demo"
    status: Mapped[str] = mapped_column(String(16), default=PurchaseStatus.PENDING)
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    credited_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def credit_ref(self) -> str:
        return f"purchase:{self.id}"

    @property
    def clawback_ref(self) -> str:
        return f"clawback:{self.id}"


class StripeEvent(Base):
    """Every Stripe event id, stored once: a redelivery finds it and changes nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("sites.id"), index=True, default=None
    )
    purchase_id: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
