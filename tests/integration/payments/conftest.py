"""A forkable server in Stripe mode, talking to the fake Stripe on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from tests.factories import PASSWORD, verify_by_mail
from tests.serving import serve_app_in_thread

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.generations.runner import RunnerConfig
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.testing.fake_stripe import FakeStripe

HOST = "coloringbook.localhost"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@dataclass
class Shop:
    url: str
    services: Services
    fake: FakeStripe
    client: httpx.Client
    csrf: str
    user_id: int

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/v1/webhooks/stripe"

    def deliver(self, event: dict[str, object], **options: object) -> httpx.Response:
        """Deliver an event to this site's webhook, as Stripe would (to the site's host)."""
        return self.fake.deliver(event, self.webhook_url, headers={"host": HOST}, **options)  # type: ignore[arg-type]

    def me(self) -> dict[str, int]:
        body: dict[str, int] = self.client.get("/api/v1/me").json()
        return body

    def buy(self, pack_id: str = "starter") -> tuple[str, str]:
        """Start a checkout; return (purchase id, Checkout Session id)."""
        response = self.client.post(
            "/api/v1/checkout", json={"pack_id": pack_id}, headers={"x-csrf-token": self.csrf}
        )
        assert response.status_code == 201, response.text
        purchase_id = response.json()["purchase_id"]
        session_id = next(
            s["id"] for s in self.fake.sessions.values() if s["client_reference_id"] == purchase_id
        )
        return purchase_id, session_id

    def purchase(self, purchase_id: str) -> dict[str, object]:
        body: dict[str, object] = self.client.get(f"/api/v1/purchases/{purchase_id}").json()
        return body

    def ledger_kinds(self) -> list[str]:
        return [entry["kind"] for entry in self.client.get("/api/v1/ledger").json()]


@pytest.fixture
def stripe_settings(
    fake_stripe: FakeStripe, settings_factory: Callable[..., Settings], database_url: str
) -> Settings:
    return settings_factory(
        database_url=database_url,
        payments="stripe",
        stripe_secret_key=fake_stripe.api_key,
        stripe_webhook_secret=fake_stripe.webhook_secret,
        stripe_api_base=fake_stripe.url,
    )


@pytest.fixture
def shop(
    fake_stripe: FakeStripe, registry: SiteRegistry, stripe_settings: Settings
) -> Iterator[Shop]:
    services = build_services(
        registry,
        stripe_settings,
        passwords=fast_passwords(),
        runner_config=RunnerConfig(workers=1, lease_seconds=5, poll_seconds=0.05),
    )
    app = create_app(registry, stripe_settings, services=services, migrate=True)
    with (
        serve_app_in_thread(app) as url,
        httpx.Client(base_url=url, headers={"host": HOST}, timeout=30) as client,
    ):
        signup = client.post(
            "/api/v1/auth/signup", json={"email": "buyer@example.com", "password": PASSWORD}
        )
        assert signup.status_code == 201
        body = signup.json()
        verify_by_mail(client, services, body["user"]["id"])
        yield Shop(url, services, fake_stripe, client, body["csrf_token"], body["user"]["id"])
    services.database.dispose()
