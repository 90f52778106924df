"""Who gets into /admin: admins of this site only; operators also see every site."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import SignedUp, sign_up
from tests.integration.admin.conftest import audit_count, make_admin

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import create_user
from forkable.app import build_services, create_app
from forkable.ledger.models import LedgerEntry
from forkable.payments.models import Purchase
from forkable.services import Services
from forkable.settings import Settings, SettingsError, load_settings
from forkable.sites import SiteRegistry

PAGES = [
    "/admin",
    "/admin/users",
    "/admin/users/1",
    "/admin/generations",
    "/admin/purchases",
    "/admin/audit",
    "/admin/sites",
    "/admin/sites/coloringbook",
]
API_READS = ["/api/v1/admin/users", "/api/v1/admin/purchases", "/api/v1/admin/audit"]
HTML = {"accept": "text/html"}


def test_signed_out_pages_send_to_login_and_the_api_says_401(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"
    for path in [*API_READS, "/api/v1/admin/dashboard", "/api/v1/admin/sites"]:
        assert client.get(path).status_code == 401, path
    grant = client.post("/api/v1/admin/users/1/grant", json={"amount": 1, "reason": "x"})
    assert grant.status_code == 401
    form = client.post(
        "/admin/users/1/grant", data={"amount": "1", "reason": "x"}, follow_redirects=False
    )
    assert form.status_code == 303
    assert form.headers["location"] == "/login?next=/admin/users/1"


def test_visitors_who_are_not_admins_get_403(client: TestClient) -> None:
    user = sign_up(client)
    for path in PAGES:
        response = client.get(path, headers=HTML)
        assert response.status_code == 403, path
        assert "Only administrators" in response.text
    for path in API_READS:
        assert client.get(path).json()["error"]["code"] == "forbidden"
    grant = client.post(
        f"/api/v1/admin/users/{user.user_id}/grant",
        json={"amount": 100, "reason": "me"},
        headers=user.headers(),
    )
    assert grant.status_code == 403
    form = client.post(
        f"/admin/users/{user.user_id}/grant",
        data={"amount": "100", "reason": "me", "csrf_token": user.csrf_token},
    )
    assert form.status_code == 403
    assert client.get("/api/v1/me").json()["balance"] == 3
    assert 'href="/admin"' not in client.get("/app").text


def test_admins_get_every_page_and_the_header_link(client: TestClient, admin: SignedUp) -> None:
    assert 'data-testid="nav-admin"' in client.get("/app").text
    for path in PAGES[:6]:
        response = client.get(path, headers=HTML)
        assert response.status_code == 200, path
        assert '<link rel="stylesheet" href="/static/admin.css">' in response.text
    static = client.get("/static/admin.css")
    assert static.status_code == 200 and ".chart" in static.text
    assert client.get("/static/admin.js").status_code == 200


def test_unsafe_requests_need_the_csrf_token(client: TestClient, admin: SignedUp) -> None:
    form = client.post(f"/admin/users/{admin.user_id}/grant", data={"amount": "5", "reason": "x"})
    assert form.status_code == 403
    api = client.post(
        f"/api/v1/admin/users/{admin.user_id}/grant", json={"amount": 5, "reason": "x"}
    )
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "csrf_failed"
    assert client.get("/api/v1/admin/audit").json() == []


def test_an_admin_of_one_site_gets_nothing_of_another(
    client: TestClient, other_site_client: TestClient, services: Services, admin: SignedUp
) -> None:
    # A user and a paid demo purchase on pencilsketch, the other site.
    other = sign_up(other_site_client, "bob@example.com")
    started = other_site_client.post(
        "/api/v1/checkout", json={"pack_id": "sketchbook"}, headers=other.headers()
    ).json()
    paid = other_site_client.post(
        f"/api/v1/demo/purchases/{started['purchase_id']}/complete", headers=other.headers()
    )
    assert paid.status_code == 200
    before = other_site_client.get("/api/v1/me").json()["balance"]

    # On its own host the coloringbook admin cannot reach pencilsketch's rows by id.
    assert client.get(f"/admin/users/{other.user_id}", headers=HTML).status_code == 404
    assert client.get(f"/api/v1/admin/users/{other.user_id}").status_code == 404
    for path, body in [
        (f"/api/v1/admin/users/{other.user_id}/grant", {"amount": 5, "reason": "x"}),
        (f"/api/v1/admin/users/{other.user_id}/revoke", {"amount": 1, "reason": "x"}),
        (f"/api/v1/admin/users/{other.user_id}/disable", {"reason": "x"}),
        (f"/api/v1/admin/purchases/{started['purchase_id']}/refund", {"reason": "x"}),
    ]:
        response = client.post(path, json=body, headers=admin.headers())
        assert response.status_code == 404, path
    form = client.post(
        f"/admin/purchases/{started['purchase_id']}/refund",
        data={"reason": "x", "csrf_token": admin.csrf_token},
        headers=HTML,
    )
    assert form.status_code == 404
    emails = [u["email"] for u in client.get("/api/v1/admin/users").json()]
    assert emails == ["admin@example.com"]
    assert client.get("/api/v1/admin/purchases").json() == []

    # Its session and its API key mean nothing on pencilsketch's host.
    cookie = client.cookies.get("forkable_session")
    assert cookie
    on_other = other_site_client.get(
        "/admin/users",
        headers={**HTML, "cookie": f"forkable_session={cookie}"},
        follow_redirects=False,
    )
    assert on_other.status_code == 303  # not signed in there: off to that site's login
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=admin.headers()).json()
    bearer = {"authorization": f"Bearer {key['key']}"}
    # Only a session acts as admin (an admin's key gets 403); elsewhere the key is unknown.
    assert client.get("/api/v1/admin/users", headers=bearer).status_code == 403
    assert other_site_client.get("/api/v1/admin/users", headers=bearer).status_code == 401

    # And nothing changed over there.
    assert other_site_client.get("/api/v1/me").json()["balance"] == before
    with services.database.session() as session:
        assert session.get(Purchase, started["purchase_id"]).status == "paid"  # type: ignore[union-attr]
        kinds = session.scalars(
            select(LedgerEntry.kind).where(LedgerEntry.user_id == other.user_id)
        ).all()
    assert "admin_grant" not in kinds and "clawback" not in kinds
    assert audit_count(services) == 0


def test_an_admin_created_on_one_site_is_a_visitor_elsewhere(
    client: TestClient, other_site_client: TestClient, services: Services
) -> None:
    """`forkable users create --admin` makes an admin of one site, not of the server."""
    create_user(
        services.database,
        services.passwords,
        site_id="pencilsketch",
        email="sketch-admin@example.com",
        password="correct horse battery staple",
        signup_bonus=0,
        is_admin=True,
    )
    login = other_site_client.post(
        "/api/v1/auth/login",
        json={"email": "sketch-admin@example.com", "password": "correct horse battery staple"},
    )
    assert login.json()["user"]["is_admin"] is True
    assert other_site_client.get("/admin", headers=HTML).status_code == 200
    # The same e-mail signing up on coloringbook is a new, ordinary account.
    sign_up(client, "sketch-admin@example.com")
    assert client.get("/admin", headers=HTML).status_code == 403
    # A site admin is not an operator: no sites list, no other site's dashboard.
    assert other_site_client.get("/admin/sites", headers=HTML).status_code == 403
    assert other_site_client.get("/admin/sites/coloringbook", headers=HTML).status_code == 403
    assert other_site_client.get("/api/v1/admin/sites").status_code == 403


@pytest.fixture
def operator_server(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], database_url: str
) -> Iterator[tuple[TestClient, Services]]:
    """A server whose settings name ops@example.com an operator; a browser on pencilsketch."""
    settings = settings_factory(
        database_url=database_url, operator_emails=frozenset({"ops@example.com"})
    )
    services = build_services(registry, settings, passwords=fast_passwords())
    app = create_app(registry, settings, services=services, migrate=True, run_jobs=False)
    with TestClient(app, base_url="http://pencilsketch.localhost") as client:
        yield client, services


def test_operators_see_every_site_read_only(operator_server: tuple[TestClient, Services]) -> None:
    client, services = operator_server
    # Signing up with an operator's address is not enough: operators are admins too.
    ops = sign_up(client, "ops@example.com")
    assert client.get("/admin/sites", headers=HTML).status_code == 403
    make_admin(services, ops.user_id)
    page = client.get("/admin/sites", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="nav-sites"' in page.text
    for site_id in ("cartoonavatar", "coloringbook", "pencilsketch"):
        assert f'data-site-id="{site_id}"' in page.text
    listed = client.get("/api/v1/admin/sites").json()
    assert [s["id"] for s in listed] == ["cartoonavatar", "coloringbook", "pencilsketch"]
    assert all(s["health"] in ("ok", "degraded", "paused", "down") for s in listed)
    mine = next(s for s in listed if s["id"] == "pencilsketch")
    assert mine["today"]["signups"] == 1
    other = client.get("/admin/sites/coloringbook", headers=HTML)
    assert other.status_code == 200
    assert "Read-only" in other.text and "ColoringBook AI" in other.text
    assert client.get("/admin/sites/nope", headers=HTML).status_code == 404
    # Actions stay per site: the operator's lists and actions are still their own site's.
    assert [u["email"] for u in client.get("/api/v1/admin/users").json()] == ["ops@example.com"]


def test_operator_emails_setting() -> None:
    settings = load_settings({"FORKABLE_OPERATOR_EMAILS": " Ops@Example.com,b@example.org  c@x.io"})
    assert settings.operator_emails == {"ops@example.com", "b@example.org", "c@x.io"}
    assert load_settings({}).operator_emails == frozenset()
    with pytest.raises(SettingsError) as caught:
        load_settings({"FORKABLE_OPERATOR_EMAILS": "ops"})
    assert caught.value.problems == ["FORKABLE_OPERATOR_EMAILS: 'ops' is not an e-mail address"]
