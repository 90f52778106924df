"""The buyer's receipt, queued in the transaction that credits the purchase.

`credit_purchase` notes the receipt it owes on its session; `send_receipts` (installed on a
database by the process that has the sites: the app and `forkable worker`) composes each one
in the site's brand and queues it just before that transaction commits. So a receipt exists
exactly when the credit does, once per purchase (`receipt:{purchase id}`), whichever path
credited it: webhook, success page, reconcile or demo checkout.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, SessionTransaction

from forkable.accounts.models import User
from forkable.db import Database
from forkable.mail.compose import MailKind, compose
from forkable.mail.outbox import queue_mail
from forkable.payments.models import Purchase
from forkable.payments.money import format_money
from forkable.sites import SiteRegistry

logger = logging.getLogger(__name__)

_OWED = "forkable.receipts_owed"


def owe_receipt(session: Session, purchase_id: str) -> None:
    """Remember that this transaction credited ``purchase_id``: its receipt goes with it."""
    session.info.setdefault(_OWED, []).append(purchase_id)


def send_receipts(database: Database, sites: SiteRegistry) -> None:
    """Queue the receipts owed by each transaction on ``database`` before it commits."""

    def before_commit(session: Session) -> None:
        if session.in_nested_transaction():
            return
        for purchase_id in session.info.pop(_OWED, []):
            queue_receipt(session, sites, purchase_id)

    database.listen("before_commit", before_commit)
    database.listen("after_transaction_end", _forget)


def queue_receipt(session: Session, sites: SiteRegistry, purchase_id: str) -> bool:
    """Compose and queue the receipt of a paid purchase; False when there is none to send."""
    row = session.execute(
        select(
            Purchase.site_id,
            Purchase.user_id,
            Purchase.pack_name,
            Purchase.tokens,
            Purchase.amount_cents,
            Purchase.currency,
            Purchase.paid_at,
            User.email,
            User.deleted_at,
        )
        .join(User, User.id == Purchase.user_id)
        .where(Purchase.id == purchase_id)
    ).one_or_none()
    if row is None or row.paid_at is None or row.deleted_at is not None:
        return False
    site = sites.get(row.site_id)
    if site is None:
        logger.warning(
            "no receipt for purchase %s: site %s is not served here", purchase_id, row.site_id
        )
        return False
    paid = row.paid_at
    mail = compose(
        site,
        MailKind.PURCHASE_RECEIPT,
        to=row.email,
        facts={
            "tokens": f"{row.tokens:,}",
            "pack": row.pack_name,
            "amount": format_money(row.amount_cents, row.currency),
            "reference": purchase_id,
            "date": f"{paid.day} {paid:%B %Y}",
        },
    )
    return queue_mail(
        session,
        mail,
        site_id=row.site_id,
        event_key=f"receipt:{purchase_id}",
        user_id=row.user_id,
    )


def _forget(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    # A transaction that rolled back credited nothing: its receipts are not owed.
    if transaction.parent is None:
        session.info.pop(_OWED, None)
