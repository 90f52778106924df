"""The buyer's receipt: queued with the credit, once per purchase, whichever path credits it."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default

import pytest
from sqlalchemy import select
from tests.integration.payments.conftest import Shop

from forkable.mail.models import OutboxMail
from forkable.payments.crediting import credit_purchase, find_purchase
from forkable.payments.models import Purchase


def _receipts(shop: Shop) -> list[OutboxMail]:
    with shop.services.database.session() as session:
        return list(
            session.scalars(select(OutboxMail).where(OutboxMail.kind == "purchase_receipt"))
        )


def _sent_message(shop: Shop, mail_id: str) -> EmailMessage:
    """The receipt as delivered (development: the `.eml` file)."""
    shop.services.maintenance.deliver_mail()
    [path] = (shop.services.settings.data_dir / "mail").glob(f"*-{mail_id}.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_webhook_credit_queues_one_branded_receipt(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    first = shop.fake.complete_session(session_id)
    assert shop.deliver(first).status_code == 200
    again = shop.fake.make_event("checkout.session.completed", first["data"]["object"])
    assert shop.deliver(again).status_code == 200  # another event id: credited already
    assert shop.client.get(f"/api/v1/purchases/{purchase_id}").json()["status"] == "paid"

    [receipt] = _receipts(shop)
    assert (receipt.site_id, receipt.event_key, receipt.user_id) == (
        "coloringbook",
        f"receipt:{purchase_id}",
        shop.user_id,
    )
    assert receipt.to_address == "buyer@example.com"
    assert receipt.subject == "Your ColoringBook AI receipt"

    with shop.services.database.session() as session:
        purchase = session.get(Purchase, purchase_id)
        assert purchase is not None and purchase.paid_at is not None
        paid = purchase.paid_at
    message = _sent_message(shop, receipt.id)
    text = message.get_body(("plain",))
    assert text is not None
    body = " ".join(text.get_content().split())
    for fact in (
        "20 tokens were added to your ColoringBook AI account",
        "Pack: Starter",
        "Paid: $4.99",
        f"Reference: {purchase_id}",
        f"Date: {paid.day} {paid:%B %Y}",
        "https://coloringbook.example.com/app",
    ):
        assert fact in body
    assert message["Message-ID"] == f"<{receipt.id}@coloringbook.example.com>"


def test_the_success_page_and_the_webhook_together_queue_one_receipt(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    event = shop.fake.complete_session(session_id)
    assert shop.client.get(f"/api/v1/purchases/{purchase_id}").json()["status"] == "paid"
    assert shop.deliver(event).status_code == 200
    assert [r.event_key for r in _receipts(shop)] == [f"receipt:{purchase_id}"]


def test_the_scheduled_reconcile_queues_the_receipt_of_what_it_credits(shop: Shop) -> None:
    purchase_id, session_id = shop.buy()
    shop.fake.complete_session(session_id)  # paid at Stripe; the webhook never came
    assert shop.services.maintenance.reconcile_payments() == 1
    assert [r.event_key for r in _receipts(shop)] == [f"receipt:{purchase_id}"]
    assert shop.services.maintenance.reconcile_payments() == 0
    assert len(_receipts(shop)) == 1


def test_a_credit_that_rolls_back_leaves_no_receipt(shop: Shop) -> None:
    purchase_id, _session_id = shop.buy()
    with pytest.raises(RuntimeError), shop.services.database.transaction() as session:
        purchase = find_purchase(session, purchase_id=purchase_id)
        assert purchase is not None
        assert credit_purchase(session, purchase, source="webhook").action == "credited"
        raise RuntimeError("the webhook's transaction failed")
    assert _receipts(shop) == []
    assert shop.client.get("/api/v1/me").json()["balance"] == 3
