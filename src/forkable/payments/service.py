"""Buying packs: start a checkout, follow a purchase, reconcile with Stripe, demo checkout."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from forkable.accounts.service import Principal
from forkable.db import Database
from forkable.manifest.schema import PackTable
from forkable.payments.accounts import Account, StripeAccounts
from forkable.payments.crediting import (
    Outcome,
    close_unpaid,
    credit_purchase,
    find_purchase,
    mark_processing,
)
from forkable.payments.gateway import CheckoutRequest, CheckoutSession, PaymentProviderError
from forkable.payments.models import Purchase, PurchaseStatus
from forkable.sites import Site


class UnknownPack(Exception):
    """No pack with that id on this site."""


@dataclass(frozen=True)
class StartedCheckout:
    purchase: Purchase
    checkout_url: str


def find_pack(site: Site, pack_id: str) -> PackTable:
    for pack in site.manifest.pricing.packs:
        if pack.id == pack_id:
            return pack
    raise UnknownPack(pack_id)


def start_checkout(
    database: Database,
    accounts: StripeAccounts | None,
    principal: Principal,
    site: Site,
    pack_id: str,
    *,
    return_base_url: str,
) -> StartedCheckout:
    """The purchase row first (its id keys everything after), then the Checkout Session.

    Without Stripe (demo payments) the checkout page is our own `/buy/demo/<id>`; with it, the
    session is made on the site's own Stripe account.
    """
    pack = find_pack(site, pack_id)
    gateway = accounts.for_site(site.id) if accounts is not None else None
    purchase = Purchase(
        id=uuid.uuid4().hex,
        site_id=site.id,
        user_id=principal.user_id,
        pack_id=pack.id,
        pack_name=pack.display_name,
        tokens=pack.tokens,
        amount_cents=pack.price_cents,
        currency=site.manifest.pricing.currency,
        provider="stripe" if gateway else "demo",
    )
    with database.transaction() as session:
        session.add(purchase)
    if gateway is None:
        return StartedCheckout(purchase, f"/buy/demo/{purchase.id}")
    base = return_base_url.rstrip("/")
    request = CheckoutRequest(
        purchase_id=purchase.id,
        site_id=site.id,
        user_id=principal.user_id,
        pack_id=pack.id,
        product_name=f"{site.manifest.site.name}: {pack.display_name} ({pack.tokens} tokens)",
        amount_cents=pack.price_cents,
        currency=purchase.currency,
        success_url=f"{base}/buy/success?purchase={purchase.id}",
        cancel_url=f"{base}/buy?cancelled={purchase.id}",
        customer_email=principal.email,
    )
    try:
        checkout = gateway.create_checkout(request)
    except PaymentProviderError:
        with database.transaction() as session:
            row = session.get(Purchase, purchase.id)
            if row is not None:
                close_unpaid(session, row, PurchaseStatus.FAILED)
        raise
    with database.transaction() as session:
        row = session.get(Purchase, purchase.id)
        if row is not None:
            row.checkout_session_id = checkout.id
    if not checkout.url:
        raise PaymentProviderError("Stripe returned a session without a URL")
    return StartedCheckout(purchase, checkout.url)


def purchases_for(database: Database, principal: Principal, limit: int = 50) -> list[Purchase]:
    with database.session() as session:
        return list(
            session.scalars(
                select(Purchase)
                .where(Purchase.site_id == principal.site_id, Purchase.user_id == principal.user_id)
                .order_by(Purchase.created_at.desc())
                .limit(limit)
            )
        )


def purchase_for(database: Database, principal: Principal, purchase_id: str) -> Purchase | None:
    with database.session() as session:
        purchase = session.scalar(
            select(Purchase).where(
                Purchase.id == purchase_id, Purchase.site_id == principal.site_id
            )
        )
    if purchase is None or (purchase.user_id != principal.user_id and not principal.is_admin):
        return None
    return purchase


def _any_site(_site_id: str) -> bool:
    return True


def apply_session(
    database: Database,
    checkout: CheckoutSession,
    *,
    source: str,
    holds: Callable[[str], bool] = _any_site,
) -> Outcome:
    """Bring a purchase in line with what Stripe says of its session, through the same path.

    ``holds`` says which sites' purchases the session's Stripe account may settle.
    """
    purchase_id = checkout.purchase_id
    with database.transaction() as session:
        purchase = find_purchase(session, purchase_id=purchase_id) if purchase_id else None
        if purchase is None or purchase.checkout_session_id not in (None, checkout.id):
            return Outcome("unknown_purchase")
        if not holds(purchase.site_id):
            return Outcome("other_account", purchase.id)
        if checkout.payment_status in ("paid", "no_payment_required"):
            return credit_purchase(
                session, purchase, source=source, payment_intent_id=checkout.payment_intent
            )
        if checkout.status == "complete":
            return mark_processing(session, purchase, checkout.payment_intent)
        if checkout.status == "expired":
            return close_unpaid(session, purchase, PurchaseStatus.EXPIRED)
        return Outcome("unpaid", purchase.id)


def sync_purchase(database: Database, accounts: StripeAccounts, purchase: Purchase) -> Outcome:
    """Ask Stripe about one unpaid purchase (the success page does, so a lost webhook still pays)."""
    if purchase.checkout_session_id is None or purchase.status not in (
        PurchaseStatus.PENDING,
        PurchaseStatus.PROCESSING,
    ):
        return Outcome("unchanged", purchase.id)
    gateway = accounts.for_site(purchase.site_id)
    return apply_session(
        database, gateway.retrieve(purchase.checkout_session_id), source="success_page"
    )


@dataclass(frozen=True)
class Reconciled:
    session_id: str
    purchase_id: str | None
    outcome: str


def reconcile(database: Database, account: Account, since: datetime) -> Iterator[Reconciled]:
    """Credit every paid session of ``account`` since ``since`` that no webhook credited.

    Safe to repeat; run it for each account (`StripeAccounts.accounts()`).
    """
    for checkout in account.gateway.sessions_since(since):
        if checkout.payment_status not in ("paid", "no_payment_required"):
            continue
        outcome = apply_session(database, checkout, source="reconcile", holds=account.holds)
        yield Reconciled(checkout.id, checkout.purchase_id, outcome.action)


def complete_demo(database: Database, principal: Principal, purchase_id: str) -> Outcome | None:
    """Demo checkout: pay instantly, through the same crediting path as Stripe."""
    with database.transaction() as session:
        purchase = session.scalar(
            select(Purchase).where(
                Purchase.id == purchase_id,
                Purchase.site_id == principal.site_id,
                Purchase.user_id == principal.user_id,
                Purchase.provider == "demo",
            )
        )
        if purchase is None:
            return None
        return credit_purchase(session, purchase, source="demo")
