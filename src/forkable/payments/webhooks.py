"""Stripe webhook events: verified, stored once, applied through the purchase state machine."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forkable.db import Database
from forkable.payments.crediting import (
    Outcome,
    claw_back,
    claw_back_refund,
    close_unpaid,
    credit_purchase,
    find_purchase,
    mark_processing,
)
from forkable.payments.models import Purchase, PurchaseStatus, StripeEvent

logger = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300


class InvalidWebhook(Exception):
    """The request is not a genuine, fresh Stripe event; nothing was changed."""


class _OtherAccount(Exception):
    """The event is about a purchase of a site on another Stripe account: not this one's to apply."""

    def __init__(self, purchase_id: str) -> None:
        super().__init__(purchase_id)
        self.purchase_id = purchase_id


def _everyone(_site_id: str) -> bool:
    return True


def verify(
    payload: bytes, signature: str | None, secret: str, *, now: float | None = None
) -> dict[str, Any]:
    """The event, if ``signature`` proves Stripe sent exactly ``payload`` within 300 s.

    A timestamp more than 300 s in the future is refused too (the SDK checks only the past):
    a clock that far ahead is a replay risk, not skew worth accepting.
    """
    if not signature:
        raise InvalidWebhook("missing Stripe-Signature header")
    import stripe  # on first use: the SDK is large and most requests never need it

    try:
        stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise InvalidWebhook(str(exc)) from None
    stamps = [part.split("=", 1)[1] for part in signature.split(",") if part.startswith("t=")]
    current = time.time() if now is None else now
    if not stamps or not stamps[0].isdigit() or int(stamps[0]) > current + TOLERANCE_SECONDS:
        raise InvalidWebhook("timestamp is in the future")
    event = json.loads(payload)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise InvalidWebhook("not an event")
    return event


def _session_purchase(session: Session, obj: dict[str, Any]) -> Purchase | None:
    metadata = obj.get("metadata") or {}
    purchase_id = metadata.get("purchase_id") or obj.get("client_reference_id")
    purchase = find_purchase(session, purchase_id=purchase_id) if purchase_id else None
    if purchase is None:
        purchase = find_purchase(session, checkout_session_id=obj.get("id"))
    # A purchase belongs to exactly one Checkout Session; anything else is not ours to apply.
    if purchase is not None and purchase.checkout_session_id not in (None, obj.get("id")):
        return None
    return purchase


def _charge_purchase(session: Session, obj: dict[str, Any]) -> Purchase | None:
    """The purchase a charge (or a dispute of one) paid for.

    By its PaymentIntent, once a checkout event has recorded it; before that (Stripe does not
    deliver events in order: a refund can arrive before the credit), by the purchase id our
    checkout put in the PaymentIntent's metadata, which Stripe copies onto the charge.
    """
    intent = _payment_intent(obj)
    purchase = find_purchase(session, payment_intent_id=intent) if intent else None
    if purchase is not None:
        return purchase
    purchase_id = (obj.get("metadata") or {}).get("purchase_id")
    purchase = find_purchase(session, purchase_id=purchase_id) if purchase_id else None
    if purchase is not None and purchase.payment_intent_id not in (None, intent):
        return None  # that purchase was paid by another PaymentIntent: not ours to apply
    return purchase


def _payment_intent(obj: dict[str, Any]) -> str | None:
    value = obj.get("payment_intent")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _whole_cents(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _refund(session: Session, purchase: Purchase, charge: dict[str, Any]) -> Outcome:
    """`charge.refunded`: take back the share of the pack that ``amount_refunded`` says."""
    amount = _whole_cents(charge.get("amount"))
    refunded = _whole_cents(charge.get("amount_refunded"))
    if charge.get("refunded") is True or amount is None or refunded is None:
        return claw_back(session, purchase, PurchaseStatus.REFUNDED, "payment refunded")
    return claw_back_refund(session, purchase, amount_refunded=refunded, amount=amount)


def apply_event(
    session: Session, event_type: str, obj: dict[str, Any], holds: Callable[[str], bool]
) -> Outcome:
    """Change what the event says changed; unknown types are ignored.

    ``holds`` says whether a purchase's site is on the Stripe account the event came from; an
    event about another account's purchase raises _OtherAccount.
    """
    if event_type.startswith("checkout.session."):
        purchase = _session_purchase(session, obj)
        if purchase is None:
            return Outcome("unknown_purchase")
        if not holds(purchase.site_id):
            raise _OtherAccount(purchase.id)
        if event_type == "checkout.session.completed":
            if obj.get("payment_status") in ("paid", "no_payment_required"):
                return credit_purchase(
                    session, purchase, source="webhook", payment_intent_id=_payment_intent(obj)
                )
            return mark_processing(session, purchase, _payment_intent(obj))
        if event_type == "checkout.session.async_payment_succeeded":
            return credit_purchase(
                session, purchase, source="webhook", payment_intent_id=_payment_intent(obj)
            )
        if event_type == "checkout.session.async_payment_failed":
            return close_unpaid(session, purchase, PurchaseStatus.FAILED)
        if event_type == "checkout.session.expired":
            return close_unpaid(session, purchase, PurchaseStatus.EXPIRED)
        return Outcome("ignored", purchase.id)
    if event_type in ("charge.refunded", "charge.dispute.created"):
        purchase = _charge_purchase(session, obj)
        if purchase is None:
            return Outcome("unknown_purchase")
        if not holds(purchase.site_id):
            raise _OtherAccount(purchase.id)
        if event_type == "charge.refunded":
            return _refund(session, purchase, obj)
        return claw_back(session, purchase, PurchaseStatus.DISPUTED, "payment disputed")
    return Outcome("ignored")


def handle_event(
    database: Database, event: dict[str, Any], *, holds: Callable[[str], bool] = _everyone
) -> Outcome:
    """Apply a verified event once: its record and its effects commit together.

    ``holds`` tells which sites' purchases the endpoint's Stripe account holds (see
    `payments.accounts`). An event about a purchase of another account changes nothing and is
    not recorded, so that account's own endpoint still applies it when it gets it.
    """
    event_id = event["id"]
    event_type = str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    try:
        with database.transaction() as session:
            if session.get(StripeEvent, event_id) is not None:
                return Outcome("duplicate")
            # The record goes in first: a concurrent delivery of the same event waits on it.
            record = StripeEvent(id=event_id, type=event_type, outcome="applying")
            session.add(record)
            session.flush()
            outcome = apply_event(session, event_type, obj, holds)
            record.purchase_id = outcome.purchase_id
            if outcome.purchase_id:
                purchase = session.get(Purchase, outcome.purchase_id)
                record.site_id = purchase.site_id if purchase else None
            record.outcome = outcome.action
    except IntegrityError:
        return Outcome("duplicate")
    except _OtherAccount as other:
        outcome = Outcome("other_account", other.purchase_id)
    logger.info(
        "stripe event %s %s: %s",
        event_id,
        event_type,
        outcome.action,
        extra={"event": "stripe_webhook", "stripe_event": event_type, "outcome": outcome.action},
    )
    return outcome
