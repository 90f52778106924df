"""Refunds and disputes in any order, and a refund Stripe delivers before the credit."""

from __future__ import annotations

import httpx
from tests.integration.payments.conftest import Shop

from forkable.generations.verify import verify_all


def _listed(shop: Shop, purchase_id: str) -> str:
    """The status the purchases list shows: a route that never asks Stripe."""
    listed = shop.client.get("/api/v1/purchases").json()
    (status,) = [p["status"] for p in listed if p["id"] == purchase_id]
    return str(status)


def _outcome(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


def _verify(shop: Shop) -> None:
    with shop.services.database.session() as session:
        assert verify_all(session) == []


def test_a_dispute_then_a_refund_claws_back_once(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    assert _outcome(shop.deliver(shop.fake.complete_session(session_id))) == "credited"
    assert _outcome(shop.deliver(shop.fake.dispute(session_id))) == "clawed_back"
    assert _listed(shop, purchase_id) == "disputed"
    assert shop.me()["balance"] == 3
    # The refund that follows (a lost dispute, a refund in the dashboard) takes nothing more.
    assert _outcome(shop.deliver(shop.fake.refund(session_id))) == "unchanged"
    assert _listed(shop, purchase_id) == "disputed"
    assert shop.me()["balance"] == 3
    assert shop.ledger_kinds().count("clawback") == 1
    _verify(shop)


def test_a_refund_delivered_before_the_credit_leaves_no_tokens(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    completed = shop.fake.complete_session(session_id)  # paid; this event comes late
    refund = shop.fake.refund(session_id)
    assert _outcome(shop.deliver(refund)) == "closed"
    assert _listed(shop, purchase_id) == "refunded"
    assert shop.me()["balance"] == 3
    # The credit arrives after the refund: the pack was paid back, so it is not credited.
    assert _outcome(shop.deliver(completed)) == "not_creditable_refunded"
    assert _listed(shop, purchase_id) == "refunded"
    assert shop.me()["balance"] == 3
    # Nor by the success page asking Stripe (which says "paid") afterwards.
    assert shop.purchase(purchase_id)["status"] == "refunded"
    assert shop.me()["balance"] == 3
    assert [k for k in shop.ledger_kinds() if k in ("purchase", "clawback")] == []
    _verify(shop)
