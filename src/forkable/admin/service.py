"""Admin actions. Each is one write transaction that also writes its audit row.

Every function takes the acting admin (`Actor`) and works only on rows of the actor's site,
so an id from another site is simply not found. Refusals raise `AdminError` subclasses whose
message is a sentence for the admin; nothing is written when an action is refused.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from forkable.accounts.models import User, UserSession
from forkable.accounts.service import Principal
from forkable.accounts.verification import queue_verification
from forkable.admin.models import AuditEntry
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.ledger.book import Balance, InsufficientTokens, credit, debit, get_balance
from forkable.ledger.models import EntryKind
from forkable.payments.accounts import StripeAccounts
from forkable.payments.crediting import claw_back
from forkable.payments.gateway import PaymentProviderError
from forkable.payments.models import Purchase, PurchaseStatus
from forkable.sites import Site

MAX_TOKENS = 1_000_000
MAX_REASON = 500


class AdminRefusal(Enum):
    """Why an action was refused; `forkable.web.errors` says how HTTP answers each."""

    CONFLICT = "conflict"  # the rules or the row's state forbid it
    NOT_FOUND = "not_found"
    INVALID_INPUT = "invalid_input"
    PAYMENT_FAILED = "payment_failed"


class AdminError(Exception):
    """An action the rules refuse; the message is for the admin."""

    reason = AdminRefusal.CONFLICT


class NotFound(AdminError):
    reason = AdminRefusal.NOT_FOUND


class InvalidInput(AdminError):
    reason = AdminRefusal.INVALID_INPUT


class PaymentFailed(AdminError):
    reason = AdminRefusal.PAYMENT_FAILED


@dataclass(frozen=True)
class Actor:
    """The admin acting, as the audit log names them."""

    user_id: int | None
    email: str
    site_id: str
    ip: str | None = None

    @classmethod
    def from_principal(cls, principal: Principal, ip: str | None) -> Actor:
        return cls(
            user_id=principal.user_id, email=principal.email, site_id=principal.site_id, ip=ip
        )


@dataclass(frozen=True)
class TokenChange:
    audit_id: int
    user_id: int
    email: str
    amount: int  # positive: granted; negative: revoked
    ref: str
    balance: Balance


@dataclass(frozen=True)
class AccountChange:
    audit_id: int
    user_id: int
    email: str
    disabled: bool
    sessions_ended: int


@dataclass(frozen=True)
class RefundDone:
    audit_id: int
    purchase_id: str
    user_id: int
    tokens_clawed_back: int
    balance: Balance
    stripe_refund_id: str | None


def clean_reason(reason: str | None) -> str:
    """The reason as stored: trimmed, required, at most 500 characters."""
    text = " ".join((reason or "").split())
    if not text:
        raise InvalidInput("Say why: a reason is required, and it goes into the audit log.")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"Keep the reason under {MAX_REASON} characters.")
    return text


def clean_amount(amount: int) -> int:
    if not 1 <= amount <= MAX_TOKENS:
        raise InvalidInput(f"Enter a whole number of tokens from 1 to {MAX_TOKENS:,}.")
    return amount


def write_audit(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str,
    details: dict[str, Any],
) -> AuditEntry:
    """Add the audit row of an action to the action's own transaction."""
    entry = AuditEntry(
        site_id=actor.site_id,
        actor_user_id=actor.user_id,
        actor=actor.email,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=json.dumps(details, sort_keys=True, default=str),
        ip=actor.ip,
    )
    session.add(entry)
    session.flush()
    return entry


def _user(session: Session, actor: Actor, user_id: int) -> User:
    user = session.scalar(
        select(User).where(User.id == user_id, User.site_id == actor.site_id).with_for_update()
    )
    if user is None:
        raise NotFound("There is no such user on this site.")
    return user


def _tokens(count: int) -> str:
    return f"{count} token" if count in (1, -1) else f"{count} tokens"


def grant_tokens(
    database: Database, actor: Actor, user_id: int, amount: int, reason: str
) -> TokenChange:
    """Add ``amount`` tokens to a user's balance (settling a negative one first)."""
    amount, reason = clean_amount(amount), clean_reason(reason)
    ref = f"grant:{uuid.uuid4()}"
    with database.transaction() as session:
        user = _user(session, actor, user_id)
        credit(
            session,
            site_id=actor.site_id,
            user_id=user.id,
            amount=amount,
            kind=EntryKind.ADMIN_GRANT,
            ref=ref,
            reason=reason,
            actor=actor.email,
        )
        return _token_change(session, actor, "tokens.grant", user, amount, reason, ref)


def revoke_tokens(
    database: Database, actor: Actor, user_id: int, amount: int, reason: str
) -> TokenChange:
    """Take back up to what the user can spend now; never into a negative balance."""
    amount, reason = clean_amount(amount), clean_reason(reason)
    ref = f"grant:{uuid.uuid4()}"
    with database.transaction() as session:
        user = _user(session, actor, user_id)
        try:
            debit(
                session,
                site_id=actor.site_id,
                user_id=user.id,
                amount=amount,
                kind=EntryKind.ADMIN_GRANT,
                ref=ref,
                reason=reason,
                actor=actor.email,
            )
        except InsufficientTokens as exc:
            has = (
                f"only {_tokens(exc.available)} available"
                if exc.available > 0
                else "none available"
                if exc.available == 0
                else f"none: they owe {_tokens(-exc.available)}"
            )
            raise AdminError(f"Cannot revoke {_tokens(amount)}: {user.email} has {has}.") from None
        return _token_change(session, actor, "tokens.revoke", user, -amount, reason, ref)


def _token_change(
    session: Session, actor: Actor, action: str, user: User, change: int, reason: str, ref: str
) -> TokenChange:
    """Audit a grant (``change`` > 0) or revoke (< 0) booked in this transaction."""
    balance = get_balance(session, user.id)
    audit = write_audit(
        session,
        actor,
        action,
        target_type="user",
        target_id=str(user.id),
        details={
            "email": user.email,
            "amount": abs(change),
            "reason": reason,
            "ref": ref,
            "available_after": balance.available,
        },
    )
    return TokenChange(audit.id, user.id, user.email, change, ref, balance)


def disable_user(database: Database, actor: Actor, user_id: int, reason: str) -> AccountChange:
    """Block the account and end its sessions now: the user is signed out everywhere."""
    reason = clean_reason(reason)
    with database.transaction() as session:
        user = _user(session, actor, user_id)
        if user.id == actor.user_id:
            raise AdminError("You cannot disable your own account.")
        if user.disabled_at is not None:
            raise AdminError(f"{user.email} is disabled already.")
        session.execute(update(User).where(User.id == user.id).values(disabled_at=utcnow()))
        ended = session.execute(delete(UserSession).where(UserSession.user_id == user.id))
        count = int(ended.rowcount or 0)  # type: ignore[attr-defined]
        audit = write_audit(
            session,
            actor,
            "user.disable",
            target_type="user",
            target_id=str(user.id),
            details={"email": user.email, "reason": reason, "sessions_ended": count},
        )
        return AccountChange(audit.id, user.id, user.email, True, count)


def enable_user(database: Database, actor: Actor, user_id: int, reason: str) -> AccountChange:
    """Let a disabled account sign in again (its API keys work again too)."""
    reason = clean_reason(reason)
    with database.transaction() as session:
        user = _user(session, actor, user_id)
        if user.disabled_at is None:
            raise AdminError(f"{user.email} is not disabled.")
        session.execute(update(User).where(User.id == user.id).values(disabled_at=None))
        audit = write_audit(
            session,
            actor,
            "user.enable",
            target_type="user",
            target_id=str(user.id),
            details={"email": user.email, "reason": reason},
        )
        return AccountChange(audit.id, user.id, user.email, False, 0)


def resend_verification(
    database: Database, actor: Actor, site: Site, user_id: int, *, base_url: str | None
) -> int:
    """Mail the user a new verification link (the audit row's id); refused for an address
    that is verified already or an erased account."""
    with database.transaction() as session:
        user = _user(session, actor, user_id)
        if user.deleted_at is not None:
            raise AdminError("This account was deleted.")
        if user.email_verified_at is not None:
            raise AdminError(f"{user.email} is verified already.")
        queue_verification(session, site, user, base_url=base_url)
        audit = write_audit(
            session,
            actor,
            "user.resend_verification",
            target_type="user",
            target_id=str(user.id),
            details={"email": user.email},
        )
        return audit.id


def _purchase(session: Session, actor: Actor, purchase_id: str, *, lock: bool) -> Purchase:
    query = select(Purchase).where(Purchase.id == purchase_id, Purchase.site_id == actor.site_id)
    purchase = session.scalar(query.with_for_update() if lock else query)
    if purchase is None:
        raise NotFound("There is no such purchase on this site.")
    return purchase


_NOT_REFUNDABLE = {
    PurchaseStatus.REFUNDED: "This purchase was refunded already.",
    PurchaseStatus.DISPUTED: "This purchase is disputed: its tokens were clawed back already, "
    "and the bank decides about the money.",
}


def _check_refundable(purchase: Purchase) -> None:
    if purchase.status in _NOT_REFUNDABLE:
        raise AdminError(_NOT_REFUNDABLE[PurchaseStatus(purchase.status)])
    if purchase.status != PurchaseStatus.PAID:
        raise AdminError(f"Only paid purchases can be refunded; this one is {purchase.status}.")


def _refund_at_stripe(accounts: StripeAccounts | None, purchase: Purchase) -> str:
    if accounts is None:
        raise AdminError(
            "This purchase was paid through Stripe, which is not configured here: "
            "refund it in the Stripe dashboard (its webhook claws the tokens back)."
        )
    if not purchase.payment_intent_id:
        raise AdminError(
            "Stripe has not told us this purchase's payment yet: refund it in the Stripe dashboard."
        )
    try:
        gateway = accounts.for_site(purchase.site_id)  # the account that took the payment
        return gateway.refund(purchase.payment_intent_id, purchase_id=purchase.id).id
    except PaymentProviderError as exc:
        raise PaymentFailed(str(exc)) from None


def _refund_audited(session: Session, purchase_id: str) -> bool:
    return (
        session.scalar(
            select(AuditEntry.id).where(
                AuditEntry.action == "purchase.refund",
                AuditEntry.target_type == "purchase",
                AuditEntry.target_id == purchase_id,
            )
        )
        is not None
    )


def _check_webhook_refunded(session: Session, purchase_id: str, stripe_refund: str | None) -> None:
    """Nothing was clawed back: fine only if Stripe's own webhook claimed it meanwhile (our
    refund call made it send one); anything else is a repeat."""
    status = session.scalar(select(Purchase.status).where(Purchase.id == purchase_id))
    if (
        stripe_refund is None
        or status != PurchaseStatus.REFUNDED
        or _refund_audited(session, purchase_id)
    ):
        raise AdminError(_NOT_REFUNDABLE[PurchaseStatus.REFUNDED])


def _audit_refund(
    session: Session,
    actor: Actor,
    purchase: Purchase,
    reason: str,
    *,
    stripe_refund: str | None,
    clawed_back: int,
    balance: Balance,
) -> AuditEntry:
    user_email = session.scalar(select(User.email).where(User.id == purchase.user_id))
    return write_audit(
        session,
        actor,
        "purchase.refund",
        target_type="purchase",
        target_id=purchase.id,
        details={
            "reason": reason,
            "user_id": purchase.user_id,
            "email": user_email,
            "pack": purchase.pack_name,
            "tokens": purchase.tokens,
            "amount_cents": purchase.amount_cents,
            "currency": purchase.currency,
            "provider": purchase.provider,
            "stripe_refund_id": stripe_refund,
            "tokens_clawed_back": clawed_back,
            "available_after": balance.available,
        },
    )


def refund_purchase(
    database: Database,
    accounts: StripeAccounts | None,
    actor: Actor,
    purchase_id: str,
    reason: str,
) -> RefundDone:
    """Refund a paid pack and claw its tokens back once (through Stripe for Stripe purchases).

    Stripe is asked first: its idempotency key `refund:<purchase id>` makes a retry after a
    failure here safe, and its `charge.refunded` webhook finds the purchase refunded already.
    """
    reason = clean_reason(reason)
    with database.session() as session:
        purchase = _purchase(session, actor, purchase_id, lock=False)
    _check_refundable(purchase)
    stripe_refund = _refund_at_stripe(accounts, purchase) if purchase.provider == "stripe" else None
    with database.transaction() as session:
        purchase = _purchase(session, actor, purchase_id, lock=True)
        outcome = claw_back(
            session,
            purchase,
            PurchaseStatus.REFUNDED,
            f"refunded by an admin: {reason}",
            actor=actor.email,
        )
        if outcome.action != "clawed_back":
            _check_webhook_refunded(session, purchase.id, stripe_refund)
        balance = get_balance(session, purchase.user_id)
        audit = _audit_refund(
            session,
            actor,
            purchase,
            reason,
            stripe_refund=stripe_refund,
            clawed_back=outcome.tokens_taken_back,
            balance=balance,
        )
        return RefundDone(
            audit_id=audit.id,
            purchase_id=purchase.id,
            user_id=purchase.user_id,
            tokens_clawed_back=outcome.tokens_taken_back,
            balance=balance,
            stripe_refund_id=stripe_refund,
        )
