"""The fake Stripe's `POST /v1/refunds`, driven through the real `stripe` SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from tests.unit.testing.test_fake_stripe import shop_params

from forkable.testing.fake_stripe import FakeStripe


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def client(fake: FakeStripe) -> stripe.StripeClient:
    # No retries: a refused refund must show as one request.
    return stripe.StripeClient(
        fake.api_key, base_addresses={"api": fake.url}, max_network_retries=0
    )


def _paid_intent(fake: FakeStripe, client: stripe.StripeClient) -> str:
    session = client.v1.checkout.sessions.create(params=shop_params())  # type: ignore[arg-type]
    fake.complete_session(session.id)
    intent: str = fake.sessions[session.id]["payment_intent"]
    return intent


def _refund(client: stripe.StripeClient, intent: str, key: str | None = None, **more: Any) -> Any:
    options: Any = {"idempotency_key": key} if key else {}
    params = {"payment_intent": intent, "metadata": {"purchase_id": "pur_123"}, **more}
    return client.v1.refunds.create(params=params, options=options)


def test_a_refund_refunds_the_charge_and_emits_charge_refunded(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    intent = _paid_intent(fake, client)
    refund = _refund(client, intent, key="refund:pur_123")
    assert isinstance(refund, stripe.Refund)
    assert refund.id.startswith("re_")
    assert (refund.status, refund.amount, refund.currency) == ("succeeded", 499, "usd")
    assert refund.payment_intent == intent
    assert refund.metadata is not None and refund.metadata.to_dict() == {"purchase_id": "pur_123"}
    charge = next(iter(fake.charges.values()))
    assert (charge["refunded"], charge["amount_refunded"]) == (True, 499)
    assert refund.charge == charge["id"]
    event = fake.events[-1]
    assert event["type"] == "charge.refunded"
    assert event["data"]["object"]["payment_intent"] == intent
    assert fake.refunds == [refund.to_dict()]


def test_the_same_key_replays_and_a_new_one_is_refused(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    intent = _paid_intent(fake, client)
    first = _refund(client, intent, key="refund:pur_123")
    again = _refund(client, intent, key="refund:pur_123")
    assert again.id == first.id
    assert len(fake.refunds) == 1
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _refund(client, intent, key="refund:other")
    assert caught.value.code == "charge_already_refunded"


def test_partial_refunds_and_bad_requests(fake: FakeStripe, client: stripe.StripeClient) -> None:
    intent = _paid_intent(fake, client)
    part = _refund(client, intent, amount=100)
    assert part.amount == 100
    assert next(iter(fake.charges.values()))["refunded"] is False
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        _refund(client, intent, amount=1000)
    assert too_much.value.param == "amount"
    assert _refund(client, intent).amount == 399  # what is left
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        _refund(client, "pi_nope")
    assert unknown.value.http_status == 404 and unknown.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as bad_reason:
        _refund(client, intent, reason="bored")
    assert bad_reason.value.param == "reason"


def test_a_disputed_charge_cannot_be_refunded(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(params=shop_params())  # type: ignore[arg-type]
    fake.complete_session(session.id)
    fake.dispute(session.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _refund(client, fake.sessions[session.id]["payment_intent"])
    assert caught.value.code == "charge_disputed"
