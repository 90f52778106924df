"""Sites on one server with their own Stripe keys and webhook secrets (STRIPE_*__<SITE>)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests.factories import PASSWORD, verify_by_mail
from tests.serving import serve_app_in_thread

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, check_sites_for_production, create_app
from forkable.generations.verify import verify_all
from forkable.payments.accounts import StripeAccounts
from forkable.payments.service import reconcile
from forkable.services import Services
from forkable.settings import Settings, SettingsError, load_settings
from forkable.sites import SiteRegistry
from forkable.testing.fake_stripe import FakeStripe, Obj

# coloringbook uses the server's Stripe account with its own endpoint's signing secret;
# pencilsketch has an account of its own; cartoonavatar shares the server's account and secret.
SHARED_KEY, PENCIL_KEY = "sk_test_shared", "sk_test_pencil"
SECRETS = {
    "coloringbook": "whsec_coloringbook",
    "pencilsketch": "whsec_pencilsketch",
    "cartoonavatar": "whsec_shared",
}
# Each example's first pack and sign-up bonus: (pack id, tokens, price in cents, bonus).
PACKS = {
    "coloringbook": ("starter", 20, 499, 3),
    "pencilsketch": ("sketchbook", 10, 399, 2),
    "cartoonavatar": ("fun", 30, 599, 5),
}


@dataclass
class Server:
    url: str
    services: Services
    fake: FakeStripe
    settings: Settings
    clients: list[httpx.Client]

    def customer(self, site: str) -> Customer:
        client = httpx.Client(base_url=self.url, headers={"host": f"{site}.localhost"}, timeout=30)
        self.clients.append(client)
        signup = client.post(
            "/api/v1/auth/signup", json={"email": f"buyer@{site}.example", "password": PASSWORD}
        )
        assert signup.status_code == 201, signup.text
        verify_by_mail(client, self.services, signup.json()["user"]["id"])
        return Customer(self, site, client, signup.json()["csrf_token"])

    def deliver(self, event: Obj, site: str, secret: str) -> httpx.Response:
        url = f"{self.url}/api/v1/webhooks/stripe"
        return self.fake.deliver(event, url, secret=secret, headers={"host": f"{site}.localhost"})


@dataclass
class Customer:
    server: Server
    site: str
    client: httpx.Client
    csrf: str

    @property
    def bonus(self) -> int:
        return PACKS[self.site][3]

    @property
    def pack_tokens(self) -> int:
        return PACKS[self.site][1]

    def buy(self) -> tuple[str, str]:
        pack = PACKS[self.site][0]
        response = self.client.post(
            "/api/v1/checkout", json={"pack_id": pack}, headers={"x-csrf-token": self.csrf}
        )
        assert response.status_code == 201, response.text
        purchase_id: str = response.json()["purchase_id"]
        sessions = self.server.fake.sessions.values()
        session_id = next(s["id"] for s in sessions if s["client_reference_id"] == purchase_id)
        return purchase_id, session_id

    def balance(self) -> int:
        balance: int = self.client.get("/api/v1/me").json()["balance"]
        return balance

    def status(self, purchase_id: str) -> str:
        status: str = self.client.get(f"/api/v1/purchases/{purchase_id}").json()["status"]
        return status


def environment(fake: FakeStripe, database_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "FORKABLE_DATA_DIR": str(data_dir),
        "FORKABLE_DATABASE_URL": database_url,
        "FORKABLE_STRIPE_API_BASE": fake.url,
        "STRIPE_SECRET_KEY": SHARED_KEY,
        "STRIPE_WEBHOOK_SECRET": SECRETS["cartoonavatar"],
        "STRIPE_SECRET_KEY__PENCILSKETCH": PENCIL_KEY,
        "STRIPE_WEBHOOK_SECRET__COLORINGBOOK": SECRETS["coloringbook"],
        "STRIPE_WEBHOOK_SECRET__PENCILSKETCH": SECRETS["pencilsketch"],
    }


@pytest.fixture
def server(registry: SiteRegistry, database_url: str, tmp_path: Path) -> Iterator[Server]:
    with FakeStripe(api_key=SHARED_KEY) as fake:
        fake.add_account(PENCIL_KEY)
        settings = load_settings(environment(fake, database_url, tmp_path / "var"))
        services = build_services(registry, settings, passwords=fast_passwords())
        app = create_app(registry, settings, services=services, migrate=True, run_jobs=False)
        with serve_app_in_thread(app) as url:
            server = Server(url, services, fake, settings, [])
            yield server
            for client in server.clients:
                client.close()
        services.database.dispose()


def account_of(fake: FakeStripe, session_id: str) -> str:
    return fake._account_of[session_id]


def test_each_site_checks_out_on_its_own_account(server: Server) -> None:
    assert server.settings.payments == "stripe"
    _, coloring_session = server.customer("coloringbook").buy()
    _, pencil_session = server.customer("pencilsketch").buy()
    assert account_of(server.fake, coloring_session) == SHARED_KEY
    assert account_of(server.fake, pencil_session) == PENCIL_KEY


def test_webhooks_are_verified_with_the_secret_of_the_site_they_arrive_for(
    server: Server,
) -> None:
    for site in ("coloringbook", "pencilsketch", "cartoonavatar"):
        customer = server.customer(site)
        purchase_id, session_id = customer.buy()
        event = server.fake.complete_session(session_id)
        for other, secret in SECRETS.items():
            if secret != SECRETS[site]:
                refused = server.deliver(event, site, secret)
                assert refused.status_code == 400, (site, other)
                assert refused.json()["error"]["code"] == "invalid_signature"
        accepted = server.deliver(event, site, SECRETS[site])
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["outcome"] == "credited"
        assert customer.balance() == customer.bonus + customer.pack_tokens
        assert customer.status(purchase_id) == "paid"


def test_an_event_of_another_account_changes_nothing_and_is_not_used_up(server: Server) -> None:
    pencil = server.customer("pencilsketch")
    purchase_id, session_id = pencil.buy()
    event = server.fake.complete_session(session_id)
    # Signed for coloringbook's endpoint, but about a purchase on pencilsketch's own account.
    wrong = server.deliver(event, "coloringbook", SECRETS["coloringbook"])
    assert wrong.status_code == 200
    assert wrong.json()["outcome"] == "other_account"
    assert pencil.balance() == 2
    right = server.deliver(event, "pencilsketch", SECRETS["pencilsketch"])
    assert right.json()["outcome"] == "credited"
    assert pencil.balance() == 2 + 10
    assert pencil.status(purchase_id) == "paid"


def test_one_account_may_settle_its_other_sites_purchases(server: Server) -> None:
    # coloringbook and cartoonavatar share the server's account: Stripe sends its events to
    # both endpoints, and either may apply them (once).
    cartoon = server.customer("cartoonavatar")
    _purchase_id, session_id = cartoon.buy()
    event = server.fake.complete_session(session_id)
    assert server.deliver(event, "coloringbook", SECRETS["coloringbook"]).json()["outcome"] == (
        "credited"
    )
    again = server.deliver(event, "cartoonavatar", SECRETS["cartoonavatar"])
    assert again.json()["outcome"] == "duplicate"
    assert cartoon.balance() == 5 + 30


def test_the_success_page_and_refunds_use_the_sites_account(server: Server) -> None:
    pencil = server.customer("pencilsketch")
    purchase_id, session_id = pencil.buy()
    server.fake.complete_session(session_id)  # paid; the webhook never comes
    assert pencil.status(purchase_id) == "paid"  # the success page asked pencilsketch's account
    refund = server.fake.refund(session_id, amount=200)  # 200/399 of 10 tokens: 5
    assert server.deliver(refund, "pencilsketch", SECRETS["pencilsketch"]).json()["outcome"] == (
        "clawed_back_in_part"
    )
    assert pencil.balance() == 2 + 10 - 5


def test_reconcile_asks_every_account(server: Server) -> None:
    coloring, pencil = server.customer("coloringbook"), server.customer("pencilsketch")
    coloring_purchase, coloring_session = coloring.buy()
    pencil_purchase, pencil_session = pencil.buy()
    server.fake.complete_session(coloring_session)
    server.fake.complete_session(pencil_session)
    since = datetime.now(UTC) - timedelta(hours=1)
    accounts = StripeAccounts(server.settings).accounts()
    assert len(accounts) == 2
    rows = [
        row for account in accounts for row in reconcile(server.services.database, account, since)
    ]
    assert sorted((row.purchase_id, row.outcome) for row in rows) == sorted(
        [(coloring_purchase, "credited"), (pencil_purchase, "credited")]
    )
    again = [
        row for account in accounts for row in reconcile(server.services.database, account, since)
    ]
    assert {row.outcome for row in again} == {"already_credited"}
    assert (coloring.balance(), pencil.balance()) == (3 + 20, 2 + 10)
    with server.services.database.session() as session:
        assert verify_all(session) == []


def test_production_needs_a_webhook_secret_for_every_site(
    registry: SiteRegistry, tmp_path: Path
) -> None:
    environ = {
        "FORKABLE_ENV": "production",
        "FORKABLE_DATABASE_URL": "postgresql://u@db/forkable",
        "FORKABLE_METRICS_TOKEN": "m" * 32,
        "GEMINI_API_KEY": "g",
        "STRIPE_SECRET_KEY": SHARED_KEY,
        "STRIPE_WEBHOOK_SECRET__COLORINGBOOK": "whsec_c",
        "STRIPE_WEBHOOK_SECRET__PENCILSKTCH": "whsec_typo",
    }
    settings = load_settings(environ)
    with pytest.raises(SettingsError) as caught:
        check_sites_for_production(settings, registry)
    assert caught.value.problems == [
        "site cartoonavatar has no Stripe webhook secret: set "
        "STRIPE_WEBHOOK_SECRET__CARTOONAVATAR to the signing secret of its endpoint",
        "site pencilsketch has no Stripe webhook secret: set "
        "STRIPE_WEBHOOK_SECRET__PENCILSKETCH to the signing secret of its endpoint",
        "STRIPE_WEBHOOK_SECRET__PENCILSKTCH names no site served here "
        "(sites: cartoonavatar, coloringbook, pencilsketch)",
    ]
    fixed = {
        **{k: v for k, v in environ.items() if "PENCILSKTCH" not in k},
        "STRIPE_WEBHOOK_SECRET": "whsec_shared",
        "STRIPE_WEBHOOK_SECRET__PENCILSKETCH": "whsec_p",
    }
    check_sites_for_production(load_settings(fixed), registry)
