"""Refunds of Stripe payments go through Stripe (`POST /v1/refunds`) and claw back once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import SignedUp, sign_up
from tests.integration.admin.conftest import assert_ledger_clean, audit_rows, make_admin

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.ledger.models import LedgerEntry
from forkable.payments.accounts import StripeAccounts
from forkable.payments.gateway import Refund, StripeGateway
from forkable.payments.webhooks import handle_event
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.testing.fake_stripe import FakeStripe, form_fields


@dataclass
class Shop:
    client: TestClient  # the admin's browser
    buyer: TestClient
    services: Services
    fake: FakeStripe
    admin: SignedUp
    user: SignedUp

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send an event to the webhook, signed as Stripe signs it."""
        body = json.dumps(event).encode()
        response = self.client.post(
            "/api/v1/webhooks/stripe",
            content=body,
            headers={
                "stripe-signature": self.fake.signature_header(body),
                "content-type": "application/json",
            },
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def paid_purchase(self) -> str:
        started = self.buyer.post(
            "/api/v1/checkout", json={"pack_id": "starter"}, headers=self.user.headers()
        )
        assert started.status_code == 201, started.text
        purchase_id: str = started.json()["purchase_id"]
        session_id = next(
            s["id"] for s in self.fake.sessions.values() if s["client_reference_id"] == purchase_id
        )
        self.deliver(self.fake.complete_session(session_id))
        assert self.buyer.get("/api/v1/me").json()["balance"] == 23
        return purchase_id

    def refund(self, purchase_id: str, reason: str = "customer asked") -> Any:
        return self.client.post(
            f"/api/v1/admin/purchases/{purchase_id}/refund",
            json={"reason": reason},
            headers=self.admin.headers(),
        )

    def clawbacks(self) -> list[LedgerEntry]:
        with self.services.database.session() as session:
            return list(session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "clawback")))


@pytest.fixture
def shop(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], database_url: str
) -> Iterator[Shop]:
    with FakeStripe() as fake:
        settings = settings_factory(
            database_url=database_url,
            payments="stripe",
            stripe_secret_key=fake.api_key,
            stripe_webhook_secret=fake.webhook_secret,
            stripe_api_base=fake.url,
        )
        services = build_services(registry, settings, passwords=fast_passwords())
        app = create_app(registry, settings, services=services, migrate=True, run_jobs=False)
        host = "http://coloringbook.localhost"
        with TestClient(app, base_url=host) as client:
            buyer = TestClient(app, base_url=host)
            user = sign_up(buyer, "buyer@example.com")
            admin = sign_up(client, "admin@example.com")
            make_admin(services, admin.user_id)
            yield Shop(client, buyer, services, fake, admin, user)
            buyer.close()


def test_refund_goes_through_stripe_and_the_webhook_changes_nothing_more(shop: Shop) -> None:
    purchase_id = shop.paid_purchase()
    response = shop.refund(purchase_id)
    assert response.status_code == 200, response.text
    assert response.json()["balance"] == 3

    (call,) = [r for r in shop.fake.requests if r.path == "/v1/refunds"]
    assert call.method == "POST"
    assert call.headers["idempotency-key"] == f"refund:{purchase_id}"
    (refund,) = shop.fake.refunds
    intent = refund["payment_intent"]
    assert form_fields(call) == {"payment_intent": intent, "metadata[purchase_id]": purchase_id}
    charge = next(iter(shop.fake.charges.values()))
    assert charge["refunded"] is True and charge["amount_refunded"] == 499

    # Stripe then sends charge.refunded: already refunded here, so nothing more happens.
    event = shop.fake.events[-1]
    assert event["type"] == "charge.refunded"
    assert shop.deliver(event)["outcome"] == "unchanged"
    assert shop.buyer.get("/api/v1/me").json()["balance"] == 3
    assert [p["status"] for p in shop.buyer.get("/api/v1/purchases").json()] == ["refunded"]
    (clawback,) = shop.clawbacks()
    assert clawback.actor == "admin@example.com"
    (row,) = audit_rows(shop.services, action="purchase.refund")
    details = json.loads(row.details or "{}")
    assert details["stripe_refund_id"] == refund["id"]
    assert details["provider"] == "stripe" and details["tokens_clawed_back"] == 20
    assert shop.refund(purchase_id).status_code == 409
    assert len(shop.fake.refunds) == 1
    assert_ledger_clean(shop.services)


def test_stripe_refusing_the_refund_changes_nothing(shop: Shop) -> None:
    purchase_id = shop.paid_purchase()
    shop.fake.fail_next(400)  # a 4xx is not retried by the SDK
    response = shop.refund(purchase_id)
    assert response.status_code == 502
    assert response.json()["error"]["message"].startswith("Stripe refused the refund")
    assert shop.buyer.get("/api/v1/me").json()["balance"] == 23
    assert shop.clawbacks() == []
    assert audit_rows(shop.services) == []
    # Asking again works, and Stripe refunds once.
    assert shop.refund(purchase_id).status_code == 200
    assert len(shop.fake.refunds) == 1
    assert len(shop.clawbacks()) == 1


class _WebhookFirst:
    """Stripe accounts whose refund's `charge.refunded` webhook lands before the refund returns."""

    def __init__(self, inner: StripeAccounts, shop: Shop) -> None:
        self.inner = inner
        self.shop = shop
        self.gateway: StripeGateway | None = None

    def for_site(self, site_id: str) -> _WebhookFirst:
        self.gateway = self.inner.for_site(site_id)
        return self

    def refund(self, payment_intent_id: str, *, purchase_id: str) -> Refund:
        assert self.gateway is not None
        done = self.gateway.refund(payment_intent_id, purchase_id=purchase_id)
        outcome = handle_event(self.shop.services.database, self.shop.fake.events[-1])
        assert outcome.action == "clawed_back"
        return done


def test_a_webhook_that_wins_the_race_still_leaves_one_clawback_and_one_audit_row(
    shop: Shop,
) -> None:
    purchase_id = shop.paid_purchase()
    assert shop.services.payments is not None
    shop.services.payments = _WebhookFirst(shop.services.payments, shop)  # type: ignore[assignment]
    response = shop.refund(purchase_id)
    assert response.status_code == 200, response.text
    (clawback,) = shop.clawbacks()
    assert clawback.actor == "stripe"
    (row,) = audit_rows(shop.services, action="purchase.refund")
    assert json.loads(row.details or "{}")["tokens_clawed_back"] == 0
    assert shop.buyer.get("/api/v1/me").json()["balance"] == 3
    assert shop.refund(purchase_id).status_code == 409
    assert len(audit_rows(shop.services)) == 1
    assert_ledger_clean(shop.services)
