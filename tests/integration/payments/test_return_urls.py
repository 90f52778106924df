"""Where Stripe sends the buyer back: the site's own domain in production, whatever host the
checkout was started on; the request's own address in development."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from tests.factories import PASSWORD

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.testing.fake_stripe import FakeStripe, form_fields


def _return_urls(
    registry: SiteRegistry, settings: Settings, fake: FakeStripe, base_url: str
) -> tuple[str, str, str]:
    """Sign up and start a checkout at ``base_url``; (purchase id, success URL, cancel URL)."""
    services = build_services(registry, settings, passwords=fast_passwords())
    app = create_app(registry, settings, services=services, migrate=True, run_jobs=False)
    try:
        with TestClient(app, base_url=base_url) as client:
            signup = client.post(
                "/api/v1/auth/signup", json={"email": "ada@example.com", "password": PASSWORD}
            )
            assert signup.status_code == 201, signup.text
            started = client.post(
                "/api/v1/checkout",
                json={"pack_id": "starter"},
                headers={"x-csrf-token": signup.json()["csrf_token"]},
            )
            assert started.status_code == 201, started.text
    finally:
        services.database.dispose()
    (create,) = [r for r in fake.requests if r.path == "/v1/checkout/sessions"]
    fields = form_fields(create)
    return started.json()["purchase_id"], fields["success_url"], fields["cancel_url"]


@pytest.mark.parametrize("host", ["coloringbook.localhost", "coloringbook.example.com"])
def test_production_sends_buyers_back_to_the_sites_own_domain(
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
    host: str,
) -> None:
    with FakeStripe() as fake:
        settings = settings_factory(
            database_url=database_url,
            env="production",
            secret_key="k" * 40,
            payments="stripe",
            stripe_secret_key=fake.api_key,
            stripe_webhook_secret=fake.webhook_secret,
            stripe_api_base=fake.url,
            metrics_token="m" * 32,
            gemini_api_key="k",
            smtp_url="smtp://127.0.0.1:25",
        )
        # Started on another host of the same site (a preview address, say): still the domain.
        purchase_id, success, cancel = _return_urls(registry, settings, fake, f"https://{host}")
    assert success == f"https://coloringbook.example.com/buy/success?purchase={purchase_id}"
    assert cancel == f"https://coloringbook.example.com/buy?cancelled={purchase_id}"


def test_development_sends_buyers_back_to_the_address_they_used(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    with FakeStripe() as fake:
        settings = settings_factory(
            database_url=database_url,
            payments="stripe",
            stripe_secret_key=fake.api_key,
            stripe_webhook_secret=fake.webhook_secret,
            stripe_api_base=fake.url,
        )
        base = "http://coloringbook.localhost:8000"
        purchase_id, success, cancel = _return_urls(registry, settings, fake, base)
    assert success == f"{base}/buy/success?purchase={purchase_id}"
    assert cancel == f"{base}/buy?cancelled={purchase_id}"
