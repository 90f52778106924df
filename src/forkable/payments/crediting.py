"""The purchase state machine: every path that pays or unpays a pack ends here.

Webhooks, the success page, `forkable payments reconcile` and demo checkout all call these
functions inside their own transaction. Each move is a guarded UPDATE on the purchase row
(only from the states it may leave), and each ledger entry has a reference derived from the
purchase, so a pack is credited at most once and clawed back at most once, whichever paths
run, in any order, any number of times, concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forkable.db.types import utcnow
from forkable.ledger.book import credit, debit
from forkable.ledger.models import EntryKind
from forkable.ops.facts import PurchasePaid, note
from forkable.payments.models import Purchase, PurchaseStatus

_UNPAID = (PurchaseStatus.PENDING, PurchaseStatus.PROCESSING)


@dataclass(frozen=True)
class Outcome:
    """What one call did, for logs, event records and `reconcile`'s report."""

    action: str  # credited, already_credited, processing, closed, clawed_back, ignored, ...
    purchase_id: str | None = None

    def __str__(self) -> str:
        return self.action


def find_purchase(
    session: Session,
    *,
    purchase_id: str | None = None,
    checkout_session_id: str | None = None,
    payment_intent_id: str | None = None,
) -> Purchase | None:
    query = select(Purchase)
    if purchase_id:
        query = query.where(Purchase.id == purchase_id)
    elif checkout_session_id:
        query = query.where(Purchase.checkout_session_id == checkout_session_id)
    elif payment_intent_id:
        query = query.where(Purchase.payment_intent_id == payment_intent_id)
    else:
        return None
    return session.scalar(query)


def _move(
    session: Session,
    purchase: Purchase,
    to: PurchaseStatus,
    *,
    allowed: tuple[str, ...],
    **values: object,
) -> bool:
    """Move the purchase to ``to`` if it is still in one of ``allowed``; True if this call did."""
    result = session.execute(
        update(Purchase)
        .where(Purchase.id == purchase.id, Purchase.status.in_(allowed))
        .values(status=to, **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def credit_purchase(
    session: Session, purchase: Purchase, *, source: str, payment_intent_id: str | None = None
) -> Outcome:
    """Mark paid and credit the pack's tokens, once."""
    moved = _move(
        session,
        purchase,
        PurchaseStatus.PAID,
        allowed=_UNPAID,
        paid_at=utcnow(),
        credited_by=source,
        payment_intent_id=payment_intent_id or purchase.payment_intent_id,
    )
    if not moved:
        current, paid_at = session.execute(
            select(Purchase.status, Purchase.paid_at).where(Purchase.id == purchase.id)
        ).one()
        # Refunded or disputed without ever being paid here: closed, not credited.
        paid_before = paid_at is not None
        return Outcome(
            "already_credited" if paid_before else f"not_creditable_{current}", purchase.id
        )
    note(session, PurchasePaid(purchase.site_id, purchase.currency, purchase.amount_cents))
    entry = credit(
        session,
        site_id=purchase.site_id,
        user_id=purchase.user_id,
        amount=purchase.tokens,
        kind=EntryKind.PURCHASE,
        ref=purchase.credit_ref,
        reason=f"{purchase.pack_name} pack",
        actor=source,
    )
    return Outcome("credited" if entry is not None else "already_credited", purchase.id)


def mark_processing(session: Session, purchase: Purchase, payment_intent_id: str | None) -> Outcome:
    """Checkout completed with a payment method that settles later: no tokens yet."""
    moved = _move(
        session,
        purchase,
        PurchaseStatus.PROCESSING,
        allowed=(PurchaseStatus.PENDING,),
        payment_intent_id=payment_intent_id or purchase.payment_intent_id,
    )
    return Outcome("processing" if moved else "unchanged", purchase.id)


def close_unpaid(session: Session, purchase: Purchase, status: PurchaseStatus) -> Outcome:
    """The payment failed or the session expired: close the purchase, credit nothing."""
    moved = _move(session, purchase, status, allowed=_UNPAID)
    return Outcome("closed" if moved else "unchanged", purchase.id)


def claw_back(
    session: Session,
    purchase: Purchase,
    status: PurchaseStatus,
    reason: str,
    *,
    actor: str = "stripe",
) -> Outcome:
    """A refund or dispute: take the pack's tokens back once, even into a negative balance.

    One that arrives before the credit (events come in any order) closes the purchase
    unpaid instead, so the credit that follows finds nothing to credit.
    """
    moved = _move(session, purchase, status, allowed=(PurchaseStatus.PAID,))
    if not moved:
        closed = _move(session, purchase, status, allowed=_UNPAID)
        return Outcome("closed" if closed else "unchanged", purchase.id)
    debit(
        session,
        site_id=purchase.site_id,
        user_id=purchase.user_id,
        amount=purchase.tokens,
        kind=EntryKind.CLAWBACK,
        ref=purchase.clawback_ref,
        reason=reason,
        actor=actor,
        allow_negative=True,
    )
    return Outcome("clawed_back", purchase.id)
