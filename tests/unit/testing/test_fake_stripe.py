"""The fake Stripe, driven through the real `stripe` SDK and verified by the SDK's webhook code."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
import stripe

from forkable.testing._stripe_forms import parse_form
from forkable.testing.fake_stripe import FakeStripe, form_fields
from forkable.testing.http import LoopbackServer, RecordedRequest, Reply


def shop_params(purchase_id: str = "pur_123", **overrides: Any) -> dict[str, Any]:
    """What forkable's gateway sends to create a Checkout Session for one pack."""
    metadata = {"site_id": "demo", "user_id": "7", "purchase_id": purchase_id, "pack_id": "p100"}
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 499,
                    "product_data": {"name": "100 tokens"},
                },
                "quantity": 1,
            }
        ],
        "client_reference_id": purchase_id,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": "http://shop.test/account?purchase=pur_123&session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/account?cancelled=1",
        "customer_email": "buyer@shop.test",
    }
    return {**params, **overrides}


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(fake.api_key, base_addresses={"api": fake.url})


def create(client: stripe.StripeClient, key: str | None = None, **overrides: Any) -> Any:
    options: Any = {"idempotency_key": key} if key else {}
    return client.v1.checkout.sessions.create(params=shop_params(**overrides), options=options)


@dataclass
class Receiver:
    """A webhook endpoint that verifies with the SDK exactly as forkable's does."""

    secret: str
    results: list[Any] = field(default_factory=list)

    def __call__(self, request: RecordedRequest) -> Reply:
        try:
            event = stripe.Webhook.construct_event(
                request.body, request.headers.get("stripe-signature"), self.secret
            )
        except stripe.SignatureVerificationError as exc:
            self.results.append(exc)
            return Reply(400, b"bad signature")
        self.results.append(event)
        return Reply(200, b'{"received": true}', {"content-type": "application/json"})


@pytest.fixture
def receiver(fake: FakeStripe) -> Iterator[tuple[Receiver, LoopbackServer]]:
    handler = Receiver(fake.webhook_secret)
    with LoopbackServer(handler) as server:
        yield handler, server


# -- creating sessions ---------------------------------------------------------------------


def test_create_returns_a_session_the_sdk_understands(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    before = int(time.time())
    session = create(client, key="checkout:pur_123")
    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert (session.mode, session.status, session.payment_status) == ("payment", "open", "unpaid")
    assert session.url == f"{fake.url}/pay/{session.id}"
    assert session.client_reference_id == "pur_123"
    assert session.metadata is not None and session.metadata.to_dict() == {
        "site_id": "demo",
        "user_id": "7",
        "purchase_id": "pur_123",
        "pack_id": "p100",
    }
    assert (session.amount_total, session.amount_subtotal, session.currency) == (499, 499, "usd")
    assert session.success_url == f"http://shop.test/account?purchase=pur_123&session={session.id}"
    assert session.cancel_url == "http://shop.test/account?cancelled=1"
    assert session.payment_intent is None
    assert session.customer_email == "buyer@shop.test"
    assert session.livemode is False
    assert before <= session.created <= int(time.time())
    assert session.expires_at == session.created + 86400
    assert "line_items" not in session  # not expanded
    assert fake.sessions[session.id]["status"] == "open"


def test_the_recorded_request_is_the_form_the_sdk_sent(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    create(client, key="checkout:pur_123")
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/checkout/sessions")
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.headers["idempotency-key"] == "checkout:pur_123"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "line_items[0][price_data][unit_amount]=499" in unquote_plus(request.body.decode())
    fields = form_fields(request)
    assert fields["line_items[0][price_data][product_data][name]"] == "100 tokens"
    assert fields["metadata[purchase_id]"] == fields["payment_intent_data[metadata][purchase_id]"]
    nested = parse_form(request.body.decode())
    assert nested["line_items"][0]["price_data"]["unit_amount"] == "499"
    assert nested["payment_intent_data"]["metadata"]["purchase_id"] == "pur_123"


def test_the_same_idempotency_key_replays_the_first_answer(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    first = create(client, key="checkout:pur_123")
    fake.complete_session(first.id)
    again = create(client, key="checkout:pur_123")
    assert again.id == first.id and len(fake.sessions) == 1
    assert again.status == "open"  # Stripe replays the saved response, not today's state
    assert again.last_response.headers["idempotent-replayed"] == "true"


def test_the_same_key_with_other_params_is_an_idempotency_error(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    create(client, key="checkout:pur_123")
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        create(client, key="checkout:pur_123", client_reference_id="pur_999")
    assert len(fake.sessions) == 1


def test_without_a_key_the_sdk_makes_one_per_call(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    assert create(client).id != create(client).id
    keys = {r.headers["idempotency-key"] for r in fake.requests}
    assert len(keys) == 2 and len(fake.sessions) == 2


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"success_url": None}, "success_url"),
        ({"success_url": "not a url"}, "success_url"),
        ({"mode": "subscription"}, "mode"),
        ({"line_items": None}, "line_items"),
        ({"line_items": [{"price_data": {"currency": "usd"}, "quantity": 1}]}, None),
        ({"coupon": "FREE"}, "coupon"),
    ],
)
def test_invalid_params_are_refused_like_stripe(
    fake: FakeStripe, client: stripe.StripeClient, overrides: dict[str, Any], param: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create(client, key="k1", **overrides)
    assert caught.value.http_status == 400
    if param:
        assert caught.value.param == param
    assert fake.sessions == {}
    # A refused request saves no idempotent result: the corrected call with that key works.
    assert create(client, key="k1").status == "open"


@pytest.mark.parametrize(
    ("field_name", "value", "param"),
    [
        ("unit_amount", "4.99", "line_items[0][price_data][unit_amount]"),
        ("quantity", 0, "line_items[0][quantity]"),
    ],
)
def test_bad_line_item_numbers_name_the_param(
    client: stripe.StripeClient, field_name: str, value: Any, param: str
) -> None:
    item = shop_params()["line_items"][0]
    if field_name == "quantity":
        item["quantity"] = value
    else:
        item["price_data"][field_name] = value
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create(client, line_items=[item])
    assert caught.value.param == param


# -- reading -------------------------------------------------------------------------------


def test_retrieve_and_missing_sessions(client: stripe.StripeClient) -> None:
    created = create(client)
    assert client.v1.checkout.sessions.retrieve(created.id).id == created.id
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


def test_a_wrong_or_missing_key_is_401(fake: FakeStripe) -> None:
    wrong = stripe.StripeClient("sk_test_wrong", base_addresses={"api": fake.url})
    with pytest.raises(stripe.AuthenticationError):
        wrong.v1.checkout.sessions.list()
    answer = httpx.get(f"{fake.url}/v1/checkout/sessions")
    assert answer.status_code == 401 and answer.json()["error"]["type"] == "invalid_request_error"


def test_unknown_urls_are_404_in_stripe_shape(fake: FakeStripe) -> None:
    auth = {"Authorization": f"Bearer {fake.api_key}"}
    answer = httpx.get(f"{fake.url}/v1/customers", headers=auth)
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].startswith("Unrecognized request URL (GET: ")


def test_list_pages_newest_first_within_created(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    ids = [create(client, purchase_id=f"pur_{i}").id for i in range(25)]
    old = create(client, purchase_id="pur_old").id
    fake.sessions[old]["created"] -= 7200
    since = int(time.time()) - 60
    page = client.v1.checkout.sessions.list(params={"created": {"gte": since}, "limit": 10})
    assert len(page.data) == 10 and page.has_more
    listed = [s.id for s in page.auto_paging_iter()]
    assert listed == ids[::-1]
    gets = [form_fields(r) for r in fake.requests if r.method == "GET"]
    assert len(gets) == 3
    assert gets[0] == {"created[gte]": str(since), "limit": "10"}
    assert gets[1]["starting_after"] == ids[-10] and gets[2]["starting_after"] == ids[-20]


def test_list_limits(client: stripe.StripeClient) -> None:
    for _ in range(3):
        create(client)
    assert len(client.v1.checkout.sessions.list().data) == 3  # default limit 10
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.list(params={"limit": 101})
    assert caught.value.param == "limit"


def test_events_list_filters_and_pages(fake: FakeStripe, client: stripe.StripeClient) -> None:
    paid, expired = create(client), create(client)
    completed = fake.complete_session(paid.id)
    fake.expire_session(expired.id)
    listed = client.v1.events.list(params={"type": "checkout.session.completed"})
    assert [e.id for e in listed.data] == [completed["id"]]
    everything = client.v1.events.list(params={"type": "checkout.session.*", "limit": 1})
    assert [e.type for e in everything.auto_paging_iter()] == [
        "checkout.session.expired",
        "checkout.session.completed",
    ]
    assert client.v1.events.retrieve(completed["id"]).type == "checkout.session.completed"


# -- state changes and their events ----------------------------------------------------------


def test_complete_session_makes_the_completed_event(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    session = create(client)
    event = fake.complete_session(session.id)
    assert event["id"].startswith("evt_") and event["object"] == "event"
    assert event["type"] == "checkout.session.completed" and event["livemode"] is False
    assert event["api_version"] == fake.api_version and event["pending_webhooks"] == 1
    obj = event["data"]["object"]
    assert (obj["id"], obj["status"], obj["payment_status"]) == (session.id, "complete", "paid")
    assert obj["payment_intent"].startswith("pi_") and obj["amount_total"] == 499
    assert obj["metadata"]["purchase_id"] == "pur_123" and obj["url"] is None
    assert fake.events == [event]
    now = client.v1.checkout.sessions.retrieve(session.id)
    assert (now.status, now.payment_status, now.payment_intent) == (
        "complete",
        "paid",
        obj["payment_intent"],
    )


def test_delayed_payment_succeeds_or_fails(fake: FakeStripe, client: stripe.StripeClient) -> None:
    good, bad = create(client), create(client)
    assert fake.complete_session(good.id, payment_status="unpaid")["data"]["object"][
        "payment_status"
    ] == ("unpaid")
    fake.complete_session(bad.id, payment_status="unpaid")
    succeeded = fake.async_payment_succeeded(good.id)
    assert succeeded["type"] == "checkout.session.async_payment_succeeded"
    assert succeeded["data"]["object"]["payment_status"] == "paid"
    failed = fake.async_payment_failed(bad.id)
    assert failed["type"] == "checkout.session.async_payment_failed"
    assert failed["data"]["object"]["payment_status"] == "unpaid"
    with pytest.raises(ValueError, match="no successful charge"):
        fake.refund(bad.id)


def test_expire_and_impossible_transitions(fake: FakeStripe, client: stripe.StripeClient) -> None:
    session = create(client)
    event = fake.expire_session(session.id)
    assert event["type"] == "checkout.session.expired"
    assert event["data"]["object"]["status"] == "expired"
    with pytest.raises(ValueError, match="expired"):
        fake.complete_session(session.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)
    other = create(client)
    assert client.v1.checkout.sessions.expire(other.id).status == "expired"
    assert fake.events[-1]["type"] == "checkout.session.expired"


def test_refund_and_dispute_name_the_payment_intent(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    session = create(client)
    intent = fake.complete_session(session.id)["data"]["object"]["payment_intent"]
    charge = fake.refund(session.id)["data"]["object"]
    assert charge["id"].startswith("ch_") and charge["object"] == "charge"
    assert charge["payment_intent"] == intent and charge["currency"] == "usd"
    assert charge["amount"] == charge["amount_refunded"] == 499 and charge["refunded"] is True
    assert charge["metadata"]["purchase_id"] == "pur_123"  # copied from the PaymentIntent
    dispute_event = fake.dispute(session.id)
    assert dispute_event["type"] == "charge.dispute.created"
    dispute = dispute_event["data"]["object"]
    assert dispute["id"].startswith("dp_") and dispute["object"] == "dispute"
    assert (dispute["charge"], dispute["payment_intent"]) == (charge["id"], intent)
    assert (dispute["amount"], dispute["reason"], dispute["status"]) == (
        499,
        "fraudulent",
        "needs_response",
    )


def test_partial_refunds_add_up(fake: FakeStripe, client: stripe.StripeClient) -> None:
    session = create(client)
    fake.complete_session(session.id)
    first = fake.refund(session.id, amount=200)["data"]["object"]
    assert (first["amount_refunded"], first["refunded"]) == (200, False)
    rest = fake.refund(session.id)["data"]["object"]
    assert (rest["amount_refunded"], rest["refunded"]) == (499, True)


# -- webhooks --------------------------------------------------------------------------------


def test_delivered_events_verify_with_the_sdk(
    fake: FakeStripe, client: stripe.StripeClient, receiver: tuple[Receiver, LoopbackServer]
) -> None:
    handler, server = receiver
    event = fake.complete_session(create(client).id)
    answer = fake.deliver(event, f"{server.url}/api/webhooks/stripe")
    assert answer.status_code == 200
    (verified,) = handler.results
    assert isinstance(verified, stripe.Event)
    assert verified.id == event["id"] and verified.type == "checkout.session.completed"
    assert verified.data.object["payment_status"] == "paid"
    (request,) = server.recorded()
    assert request.headers["user-agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.body) == event
    assert request.headers["stripe-signature"] == fake.signature_header(
        request.body, timestamp=int(request.headers["stripe-signature"][2:12])
    )


def test_signature_header_matches_the_sdk(fake: FakeStripe) -> None:
    payload = b'{"id": "evt_1", "object": "event"}'
    expected = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), fake.webhook_secret, timestamp=1_700_000_000
    )
    assert fake.signature_header(payload, timestamp=1_700_000_000) == expected


@pytest.mark.parametrize(
    "how",
    ["tampered", "301 s old", "secret without whsec_", "another secret"],
)
def test_bad_deliveries_fail_verification(
    fake: FakeStripe,
    client: stripe.StripeClient,
    receiver: tuple[Receiver, LoopbackServer],
    how: str,
) -> None:
    handler, server = receiver
    event = fake.complete_session(create(client).id)
    choices: dict[str, dict[str, Any]] = {
        "tampered": {"tamper": True},
        "301 s old": {"timestamp": int(time.time()) - 301},
        "secret without whsec_": {"secret": fake.webhook_secret.removeprefix("whsec_")},
        "another secret": {"secret": "whsec_someone_else"},
    }
    options = choices[how]
    assert fake.deliver(event, server.url, **options).status_code == 400
    (failure,) = handler.results
    assert isinstance(failure, stripe.SignatureVerificationError)
    if how == "tampered":
        assert json.loads(server.recorded()[0].body)["livemode"] is True


def test_a_delivery_just_inside_the_tolerance_verifies(
    fake: FakeStripe, client: stripe.StripeClient, receiver: tuple[Receiver, LoopbackServer]
) -> None:
    _, server = receiver
    event = fake.complete_session(create(client).id)
    assert fake.deliver(event, server.url, timestamp=int(time.time()) - 290).status_code == 200


# -- scripted trouble ----------------------------------------------------------------------


def test_a_failure_before_commit_creates_nothing(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    fake.fail_next(500)
    with pytest.raises(stripe.APIError):
        create(client, key="k1")
    assert fake.sessions == {}
    assert create(client, key="k1").status == "open"


def test_a_lost_answer_then_an_sdk_retry_replays_the_session(fake: FakeStripe) -> None:
    retrying = stripe.StripeClient(
        fake.api_key, base_addresses={"api": fake.url}, max_network_retries=1
    )
    fake.fail_next(503, after_commit=True)
    session = create(retrying, key="checkout:pur_123")
    assert list(fake.sessions) == [session.id]
    assert [r.headers["idempotency-key"] for r in fake.requests] == ["checkout:pur_123"] * 2


def test_a_slow_answer_still_took_effect(fake: FakeStripe) -> None:
    impatient = stripe.StripeClient(
        fake.api_key,
        base_addresses={"api": fake.url},
        http_client=stripe.RequestsClient(timeout=0.3),
    )
    fake.delay_next(2.0)
    with pytest.raises(stripe.APIConnectionError):
        create(impatient, key="checkout:pur_123")
    (created,) = fake.sessions
    assert create(impatient, key="checkout:pur_123").id == created


# -- the demo checkout page --------------------------------------------------------------------


def test_the_pay_page_completes_delivers_and_redirects(
    client: stripe.StripeClient, receiver: tuple[Receiver, LoopbackServer]
) -> None:
    handler, server = receiver
    with FakeStripe(webhook_url=server.url) as fake:
        shop = stripe.StripeClient(fake.api_key, base_addresses={"api": fake.url})
        session = create(shop)
        assert "Pay" in httpx.get(session.url).text
        cancelled = httpx.post(session.url, data={"action": "cancel"})
        assert cancelled.status_code == 303
        assert cancelled.headers["location"] == session.cancel_url
        paid = httpx.post(session.url, data={"action": "pay"})
        assert paid.status_code == 303 and paid.headers["location"] == session.success_url
        assert fake.sessions[session.id]["status"] == "complete"
    (verified,) = handler.results
    assert isinstance(verified, stripe.Event) and verified.type == "checkout.session.completed"


def test_parse_form_nests_and_appends() -> None:
    parsed = parse_form("a[b][0][c]=1&a[b][1][c]=2&tags[]=x&tags[]=y&metadata[0]=z&plain=")
    assert parsed == {
        "a": {"b": [{"c": "1"}, {"c": "2"}]},
        "tags": ["x", "y"],
        "metadata": {"0": "z"},
        "plain": "",
    }


def test_runs_as_a_demo_server() -> None:
    command = [sys.executable, "-m", "forkable.testing.fake_stripe", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline().strip() for _ in range(4)]
        finally:
            process.terminate()
    assert lines[0].startswith("fake Stripe listening on http://127.0.0.1:")
    assert "STRIPE_SECRET_KEY=sk_test_fake" in lines
    assert "STRIPE_WEBHOOK_SECRET=whsec_test_fake" in lines


def test_each_account_sees_only_its_own_objects(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    fake.add_account("sk_test_other")
    other = stripe.StripeClient("sk_test_other", base_addresses={"api": fake.url})
    mine = create(client, "checkout:a")
    theirs = create(other, "checkout:a", client_reference_id="pur_other")  # same key, own account
    assert mine.id != theirs.id
    assert [s.id for s in other.v1.checkout.sessions.list().data] == [theirs.id]
    with pytest.raises(stripe.InvalidRequestError, match=r"No such checkout\.session"):
        other.v1.checkout.sessions.retrieve(mine.id)
    fake.complete_session(mine.id)
    intent = fake.sessions[mine.id]["payment_intent"]
    with pytest.raises(stripe.InvalidRequestError, match="No such payment_intent"):
        other.v1.refunds.create(params={"payment_intent": intent})
    refund = client.v1.refunds.create(params={"payment_intent": intent, "amount": 100})
    assert refund.amount == 100
    assert fake.events[-1]["data"]["object"]["amount_refunded"] == 100
    assert [e.id for e in other.v1.events.list().data] == []
