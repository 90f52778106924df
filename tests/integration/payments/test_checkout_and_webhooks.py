"""Packs are credited exactly once, whatever Stripe delivers, in whatever order."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.integration.payments.conftest import HOST, Shop
from tests.support.metrics import exported

from forkable.generations.verify import verify_all
from forkable.payments.models import Purchase
from forkable.testing.fake_stripe import form_fields


def _verify(shop: Shop) -> None:
    with shop.services.database.session() as session:
        assert verify_all(session) == []


def _listed(shop: Shop, purchase_id: str) -> str:
    """The purchase's status as the purchases list shows it: a route that never asks Stripe.

    `GET /purchases/{id}` syncs an unpaid purchase with Stripe, so reading through it would
    hide a webhook handler that did nothing; tests read through this (and `/me`) first.
    """
    (status,) = [
        p["status"] for p in shop.client.get("/api/v1/purchases").json() if p["id"] == purchase_id
    ]
    return str(status)


def _outcome(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


def test_checkout_creates_the_session_stripe_needs(shop: Shop) -> None:
    purchase_id, session_id = shop.buy("family")
    (create,) = [
        r for r in shop.fake.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"
    ]
    fields = form_fields(create)
    assert create.headers["idempotency-key"] == f"checkout:{purchase_id}"
    assert fields["mode"] == "payment"
    assert fields["line_items[0][price_data][unit_amount]"] == "1199"
    assert fields["line_items[0][price_data][currency]"] == "usd"
    assert "Family (60 tokens)" in fields["line_items[0][price_data][product_data][name]"]
    assert fields["line_items[0][quantity]"] == "1"
    assert fields["client_reference_id"] == purchase_id
    assert fields["metadata[purchase_id]"] == purchase_id
    assert fields["metadata[site_id]"] == "coloringbook"
    assert fields["metadata[user_id]"] == str(shop.user_id)
    assert fields["success_url"].endswith(f"/buy/success?purchase={purchase_id}")
    assert shop.purchase(purchase_id)["status"] == "pending"
    assert shop.fake.sessions[session_id]["amount_total"] == 1199


def test_unknown_pack_is_422(shop: Shop) -> None:
    response = shop.client.post(
        "/api/v1/checkout", json={"pack_id": "gold"}, headers={"x-csrf-token": shop.csrf}
    )
    assert response.status_code == 422


def test_completed_five_times_at_once_plus_success_page_credits_once(shop: Shop) -> None:
    """Five deliveries of one event and the success page's sync start together, all while the
    purchase is still pending, so the webhook and the success page really race to credit it.

    On SQLite the writers of one process take turns by design (`Database.transaction`); the
    PostgreSQL run is the real race, between row locks of concurrent transactions.
    """
    purchase_id, session_id = shop.buy()
    event = shop.fake.complete_session(session_id)  # paid at Stripe: both paths may credit
    assert _listed(shop, purchase_id) == "pending"
    start = threading.Barrier(6)

    def deliver() -> str:
        start.wait(10)
        return _outcome(shop.deliver(event))

    def success_page() -> str:
        start.wait(10)
        response = shop.client.get(f"/api/v1/purchases/{purchase_id}")
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        deliveries = [pool.submit(deliver) for _ in range(5)]
        page = pool.submit(success_page)
        outcomes = [f.result() for f in deliveries]
    assert page.result() == "paid"
    # One delivery applied the event (and credited it, unless the success page had); the
    # other four found the event recorded.
    applied = [o for o in outcomes if o != "duplicate"]
    assert len(applied) == 1 and applied[0] in ("credited", "already_credited"), outcomes
    with shop.services.database.session() as session:
        purchase = session.get(Purchase, purchase_id)
        assert purchase is not None
        credited_by = purchase.credited_by
    # Exactly one path credited, and the purchase names that one.
    assert credited_by == ("webhook" if applied == ["credited"] else "success_page")
    assert shop.me()["balance"] == 3 + 20
    assert shop.ledger_kinds().count("purchase") == 1
    revenue = exported(shop.services.metrics)
    labels = (("currency", "usd"), ("site", "coloringbook"))
    assert revenue[("forkable_purchases_total", labels)] == 1
    assert revenue[("forkable_revenue_cents_total", labels)] == 499
    assert _listed(shop, purchase_id) == "paid"
    _verify(shop)


def test_two_event_ids_for_one_session_credit_once(shop: Shop) -> None:
    _purchase_id, session_id = shop.buy()
    first = shop.fake.complete_session(session_id)
    second = shop.fake.make_event("checkout.session.completed", first["data"]["object"])
    assert first["id"] != second["id"]
    assert shop.deliver(first).status_code == 200
    assert shop.deliver(second).status_code == 200
    assert shop.me()["balance"] == 23
    _verify(shop)


def test_unpaid_then_async_failure_credits_nothing(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    unpaid = shop.fake.complete_session(session_id, payment_status="unpaid")
    assert _outcome(shop.deliver(unpaid)) == "processing"
    assert _listed(shop, purchase_id) == "processing"
    assert _outcome(shop.deliver(shop.fake.async_payment_failed(session_id))) == "closed"
    assert _listed(shop, purchase_id) == "failed"
    assert shop.me()["balance"] == 3
    assert "purchase" not in shop.ledger_kinds()
    assert shop.purchase(purchase_id)["status"] == "failed"  # and asking Stripe changes nothing


def test_async_success_before_completed_credits_once(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    completed = shop.fake.complete_session(session_id, payment_status="unpaid")
    succeeded = shop.fake.async_payment_succeeded(session_id)
    assert _outcome(shop.deliver(succeeded)) == "credited"
    assert _listed(shop, purchase_id) == "paid"
    assert shop.me()["balance"] == 23
    # The older event, arriving late, does not move a paid purchase back to processing.
    assert _outcome(shop.deliver(completed)) == "unchanged"
    assert _listed(shop, purchase_id) == "paid"
    assert shop.me()["balance"] == 23
    assert shop.purchase(purchase_id)["status"] == "paid"
    _verify(shop)


def test_expired_session_closes_the_purchase(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    assert _outcome(shop.deliver(shop.fake.expire_session(session_id))) == "closed"
    assert _listed(shop, purchase_id) == "expired"
    assert shop.me()["balance"] == 3
    assert shop.purchase(purchase_id)["status"] == "expired"


@pytest.mark.parametrize(
    "attack",
    [
        "no_signature",
        "bad_signature",
        "tampered",
        "too_old",
        "from_the_future",
        "secret_without_prefix",
    ],
)
def test_forged_or_stale_webhooks_are_400_and_change_nothing(shop: Shop, attack: str) -> None:
    _purchase_id, session_id = shop.buy()
    event = shop.fake.complete_session(session_id)
    now = int(time.time())
    if attack == "no_signature":
        response = httpx.post(shop.webhook_url, content=b"{}", headers={"host": HOST})
    elif attack == "bad_signature":
        response = shop.deliver(event, secret="whsec_someone_else")
    elif attack == "tampered":
        response = shop.deliver(event, tamper=True)
    elif attack == "too_old":
        response = shop.deliver(event, timestamp=now - 301)
    elif attack == "from_the_future":
        response = shop.deliver(event, timestamp=now + 330)
    else:
        stripped = shop.fake.webhook_secret.removeprefix("whsec_")
        response = shop.deliver(event, secret=stripped)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_signature"
    assert shop.me()["balance"] == 3
    # The genuine delivery still works afterwards: nothing was recorded for the event id.
    assert shop.deliver(event).status_code == 200
    assert shop.me()["balance"] == 23


def test_unknown_event_types_are_acknowledged_and_ignored(shop: Shop) -> None:
    event = shop.fake.make_event("customer.created", {"id": "cus_1", "object": "customer"})
    response = shop.deliver(event)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"


def test_refund_twice_claws_back_once(shop: Shop) -> None:
    _purchase_id, session_id = shop.buy()
    shop.deliver(shop.fake.complete_session(session_id))
    refund = shop.fake.refund(session_id)
    assert shop.deliver(refund).status_code == 200
    assert shop.deliver(refund).status_code == 200  # redelivery
    again = shop.fake.make_event("charge.refunded", refund["data"]["object"])  # a new event id
    assert shop.deliver(again).status_code == 200
    dispute = shop.fake.dispute(session_id)
    assert shop.deliver(dispute).status_code == 200
    assert shop.ledger_kinds().count("clawback") == 1
    assert shop.me()["balance"] == 3
    _verify(shop)


def test_clawback_after_spending_leaves_a_negative_balance_that_blocks_generations(
    shop: Shop,
) -> None:
    from tests.factories import photo_bytes

    purchase_id, session_id = shop.buy()
    shop.deliver(shop.fake.complete_session(session_id))
    assert shop.me()["balance"] == 23
    with shop.services.database.transaction() as session:
        from forkable.ledger.book import debit
        from forkable.ledger.models import EntryKind

        debit(
            session,
            site_id="coloringbook",
            user_id=shop.user_id,
            amount=15,
            kind=EntryKind.ADMIN_GRANT,
            ref="grant:spent-elsewhere",
        )
    shop.deliver(shop.fake.dispute(session_id))
    assert shop.me()["balance"] == 8 - 20  # -12: the documented "owes tokens" state
    assert shop.purchase(purchase_id)["status"] == "disputed"
    refused = shop.client.post(
        "/api/v1/generations",
        files={"image": ("p.jpg", photo_bytes(), "image/jpeg")},
        headers={"x-csrf-token": shop.csrf},
    )
    assert refused.status_code == 402
    assert "-12 tokens after a refunded payment" in refused.json()["error"]["message"]
    assert "You owe 12 tokens." in shop.client.get("/account").text  # shown to the user
    _verify(shop)


def test_success_page_credits_when_the_webhook_never_comes(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    shop.fake.complete_session(session_id)  # paid at Stripe; the event is never delivered
    assert shop.purchase(purchase_id)["status"] == "paid"
    assert shop.me()["balance"] == 23
    _verify(shop)


def test_purchase_history(shop: Shop) -> None:
    first, session_id = shop.buy("starter")
    shop.deliver(shop.fake.complete_session(session_id))
    second, _ = shop.buy("classroom")
    listed = shop.client.get("/api/v1/purchases").json()
    assert [(p["id"], p["status"], p["amount_cents"]) for p in listed] == [
        (second, "pending", 2999),
        (first, "paid", 499),
    ]


def test_demo_checkout_is_not_available_in_stripe_mode(shop: Shop) -> None:
    purchase_id, _ = shop.buy()
    response = shop.client.post(
        f"/api/v1/demo/purchases/{purchase_id}/complete", headers={"x-csrf-token": shop.csrf}
    )
    assert response.status_code == 404
    assert shop.me()["balance"] == 3
