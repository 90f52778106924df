"""The purchase state machine: every path that pays or unpays a pack ends here.

Webhooks, the success page, `forkable payments reconcile` and demo checkout all call these
functions inside their own transaction. Each move is a guarded UPDATE on the purchase row
(only from the states it may leave), and each ledger entry has a reference derived from the
purchase, so a pack is credited at most once and clawed back at most once, whichever paths
run, in any order, any number of times, concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from forkable.db.events import PurchasePaid, note
from forkable.db.types import utcnow
from forkable.ledger.book import credit, debit
from forkable.ledger.models import EntryKind, LedgerEntry
from forkable.payments.models import Purchase, PurchaseStatus
from forkable.payments.receipts import owe_receipt

_UNPAID = (PurchaseStatus.PENDING, PurchaseStatus.PROCESSING)


@dataclass(frozen=True)
class Outcome:
    """What one call did, for logs, event records and `reconcile`'s report."""

    action: str  # credited, already_credited, processing, closed, clawed_back, ignored, ...
    purchase_id: str | None = None
    tokens_taken_back: int = 0

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
    if entry is None:
        return Outcome("already_credited", purchase.id)
    owe_receipt(session, purchase.id)
    return Outcome("credited", purchase.id)


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
    """A full refund or a dispute: take back the tokens not taken back yet, once.

    The purchase then leaves `paid` for ``status``; a balance may go negative. One that
    arrives before the credit (events come in any order) closes the purchase unpaid instead,
    so the credit that follows finds nothing to credit.
    """
    outcome = _take_back(
        session, purchase, purchase.tokens, purchase.clawback_ref, reason, actor, status
    )
    if outcome.action == "unchanged" and _move(session, purchase, status, allowed=_UNPAID):
        return Outcome("closed", purchase.id)
    return outcome


def refunded_share(tokens: int, amount_refunded: int, amount: int) -> int:
    """The tokens a refund of ``amount_refunded`` out of ``amount`` takes back, rounded down."""
    if amount <= 0 or amount_refunded >= amount:
        return tokens
    return tokens * max(amount_refunded, 0) // amount


def claw_back_refund(
    session: Session, purchase: Purchase, *, amount_refunded: int, amount: int
) -> Outcome:
    """Stripe refunded ``amount_refunded`` (in total, so far) of ``amount``: take back that share.

    ``amount_refunded`` only grows, so each refund takes back the new share only, once,
    however often and in whatever order the events come. A refund of everything is a full
    refund (`refunded`).
    """
    share = refunded_share(purchase.tokens, amount_refunded, amount)
    if share >= purchase.tokens:
        return claw_back(session, purchase, PurchaseStatus.REFUNDED, "payment refunded")
    ref = f"{purchase.clawback_ref}:{amount_refunded}"
    return _take_back(session, purchase, share, ref, "payment refunded in part", "stripe", None)


def tokens_taken_back(session: Session, purchase: Purchase) -> int:
    """What clawbacks of ``purchase`` took back so far (partial refunds and the final one)."""
    taken = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.site_id == purchase.site_id,
            LedgerEntry.kind == EntryKind.CLAWBACK,
            or_(
                LedgerEntry.ref == purchase.clawback_ref,
                LedgerEntry.ref.startswith(purchase.clawback_ref + ":", autoescape=True),
            ),
        )
    )
    return -int(taken or 0)


def _take_back(
    session: Session,
    purchase: Purchase,
    target: int,
    ref: str,
    reason: str,
    actor: str,
    status: PurchaseStatus | None,
) -> Outcome:
    """Bring what was taken back of ``purchase`` up to ``target`` tokens; move to ``status``."""
    # The guarded UPDATE locks the purchase row until commit (SQLite: the whole database), so
    # two refunds of one purchase applied at once count each other's clawbacks, never the
    # same tokens twice.
    values: dict[str, object] = {"updated_at": utcnow()}
    if status is not None:
        values["status"] = status
    if not _move_values(session, purchase, values):
        return Outcome("unchanged", purchase.id)
    missing = target - tokens_taken_back(session, purchase)
    if missing > 0:
        debit(
            session,
            site_id=purchase.site_id,
            user_id=purchase.user_id,
            amount=missing,
            kind=EntryKind.CLAWBACK,
            ref=ref,
            reason=reason,
            actor=actor,
            allow_negative=True,
        )
    if status is not None:
        return Outcome("clawed_back", purchase.id, max(missing, 0))
    if missing > 0:
        return Outcome("clawed_back_in_part", purchase.id, missing)
    return Outcome("unchanged", purchase.id)


def _move_values(session: Session, purchase: Purchase, values: dict[str, object]) -> bool:
    result = session.execute(
        update(Purchase)
        .where(Purchase.id == purchase.id, Purchase.status == PurchaseStatus.PAID)
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
