"""Every admin action changes what it says, once, and leaves exactly one audit row."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import PASSWORD, SignedUp, mailed_token, sign_up
from tests.integration.admin.conftest import (
    assert_ledger_clean,
    audit_count,
    audit_rows,
)

from forkable.accounts.models import UserSession
from forkable.ledger.models import LedgerEntry
from forkable.services import Services

HTML = {"accept": "text/html"}


def _entries(services: Services, user_id: int, kind: str) -> list[LedgerEntry]:
    with services.database.session() as session:
        return list(
            session.scalars(
                select(LedgerEntry).where(LedgerEntry.user_id == user_id, LedgerEntry.kind == kind)
            )
        )


def _only_audit_row(services: Services, action: str) -> dict[str, object]:
    (row,) = audit_rows(services, action=action)
    return {
        "site_id": row.site_id,
        "actor": row.actor,
        "actor_user_id": row.actor_user_id,
        "target": (row.target_type, row.target_id),
        "ip": row.ip,
        "details": json.loads(row.details or "{}"),
    }


def test_grant_through_the_api(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    ada = sign_up(visitor_client, "ada@example.com")
    response = client.post(
        f"/api/v1/admin/users/{ada.user_id}/grant",
        json={"amount": 10, "reason": "  print shop   partner "},
        headers=admin.headers(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["balance"] == 13
    assert visitor_client.get("/api/v1/me").json()["balance"] == 13
    (entry,) = _entries(services, ada.user_id, "admin_grant")
    assert (entry.amount, entry.actor, entry.reason) == (
        10,
        "admin@example.com",
        "print shop partner",
    )
    assert entry.ref.startswith("grant:")
    row = _only_audit_row(services, "tokens.grant")
    assert row["site_id"] == "coloringbook"
    assert row["actor"] == "admin@example.com"
    assert row["actor_user_id"] == admin.user_id
    assert row["target"] == ("user", str(ada.user_id))
    assert row["ip"] == "testclient"
    details = row["details"]
    assert isinstance(details, dict)
    assert details["reason"] == "print shop partner"
    assert details["amount"] == 10 and details["ref"] == entry.ref
    assert audit_count(services) == 1
    assert_ledger_clean(services)


def test_grant_and_revoke_through_the_forms(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    ada = sign_up(visitor_client, "ada@example.com")
    page = f"/admin/users/{ada.user_id}"
    granted = client.post(
        f"{page}/grant",
        data={"amount": "7", "reason": "sorry for the outage", "csrf_token": admin.csrf_token},
        follow_redirects=False,
    )
    assert granted.status_code == 303
    assert granted.headers["location"] == f"{page}?done=grant"
    shown = client.get(granted.headers["location"], headers=HTML).text
    assert "Tokens granted" in shown and "sorry for the outage" in shown
    assert 'data-testid="user-available">10<' in shown

    revoked = client.post(
        f"{page}/revoke",
        data={"amount": "4", "reason": "duplicate grant", "csrf_token": admin.csrf_token},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert visitor_client.get("/api/v1/me").json()["balance"] == 6
    (entry,) = [e for e in _entries(services, ada.user_id, "admin_grant") if e.amount < 0]
    assert (entry.amount, entry.reason) == (-4, "duplicate grant")
    row = _only_audit_row(services, "tokens.revoke")
    assert row["target"] == ("user", str(ada.user_id))
    assert row["details"]["amount"] == 4  # type: ignore[index]
    assert row["details"]["reason"] == "duplicate grant"  # type: ignore[index]
    assert audit_count(services) == 2
    assert_ledger_clean(services)


def test_revoking_more_than_available_is_refused_and_changes_nothing(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    ada = sign_up(visitor_client, "ada@example.com")
    response = client.post(
        f"/api/v1/admin/users/{ada.user_id}/revoke",
        json={"amount": 4, "reason": "too much"},
        headers=admin.headers(),
    )
    assert response.status_code == 409
    assert response.json()["error"]["message"] == (
        "Cannot revoke 4 tokens: ada@example.com has only 3 tokens available."
    )
    form = client.post(
        f"/admin/users/{ada.user_id}/revoke",
        data={"amount": "4", "reason": "too much", "csrf_token": admin.csrf_token},
        headers=HTML,
    )
    assert form.status_code == 409
    assert "Cannot revoke 4 tokens" in form.text
    assert _entries(services, ada.user_id, "admin_grant") == []
    assert audit_count(services) == 0
    assert visitor_client.get("/api/v1/me").json()["balance"] == 3


def test_actions_need_a_reason_and_a_sane_amount(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    ada = sign_up(visitor_client, "ada@example.com")
    url = f"/api/v1/admin/users/{ada.user_id}"
    for path, body in [
        ("grant", {"amount": 5, "reason": "   "}),
        ("grant", {"amount": 0, "reason": "x"}),
        ("grant", {"amount": 10_000_000, "reason": "x"}),
        ("revoke", {"amount": -3, "reason": "x"}),
        ("disable", {"reason": ""}),
    ]:
        response = client.post(f"{url}/{path}", json=body, headers=admin.headers())
        assert response.status_code == 422, (path, body)
    form = client.post(
        f"/admin/users/{ada.user_id}/grant",
        data={"amount": "lots", "reason": "x", "csrf_token": admin.csrf_token},
        headers=HTML,
    )
    assert form.status_code == 422 and "whole number" in form.text
    missing = client.post(f"{url}/grant", json={"amount": 5}, headers=admin.headers())
    assert missing.status_code == 422
    assert audit_count(services) == 0


def test_disabling_signs_out_at_once_and_blocks_login(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    ada = sign_up(visitor_client, "ada@example.com")
    key = visitor_client.post("/api/v1/api-keys", json={"name": "k"}, headers=ada.headers())
    bearer = {"authorization": f"Bearer {key.json()['key']}"}
    assert visitor_client.get("/api/v1/me", headers=bearer).status_code == 200

    response = client.post(
        f"/api/v1/admin/users/{ada.user_id}/disable",
        json={"reason": "card testing fraud"},
        headers=admin.headers(),
    )
    assert response.status_code == 200
    assert visitor_client.get("/api/v1/me").status_code == 401
    assert visitor_client.get("/api/v1/me", headers=bearer).status_code == 401
    with services.database.session() as session:
        assert (
            session.scalars(select(UserSession).where(UserSession.user_id == ada.user_id)).all()
            == []
        )
    login = visitor_client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert login.status_code == 401
    row = _only_audit_row(services, "user.disable")
    assert row["target"] == ("user", str(ada.user_id))
    assert row["details"] == {  # type: ignore[comparison-overlap]
        "email": "ada@example.com",
        "reason": "card testing fraud",
        "sessions_ended": 1,
    }
    again = client.post(
        f"/api/v1/admin/users/{ada.user_id}/disable",
        json={"reason": "twice"},
        headers=admin.headers(),
    )
    assert again.status_code == 409
    assert "disabled already" in again.json()["error"]["message"]
    page = client.get(f"/admin/users/{ada.user_id}", headers=HTML).text
    assert 'data-testid="disabled-pill"' in page and 'data-testid="enable-form"' in page

    enabled = client.post(
        f"/admin/users/{ada.user_id}/enable",
        data={"reason": "cleared by the bank", "csrf_token": admin.csrf_token},
        follow_redirects=False,
    )
    assert enabled.status_code == 303
    login = visitor_client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert visitor_client.get("/api/v1/me", headers=bearer).status_code == 200
    assert _only_audit_row(services, "user.enable")["details"]["reason"] == "cleared by the bank"  # type: ignore[index]
    assert audit_count(services) == 2


def test_an_admin_cannot_disable_themselves(
    client: TestClient, services: Services, admin: SignedUp
) -> None:
    response = client.post(
        f"/api/v1/admin/users/{admin.user_id}/disable",
        json={"reason": "oops"},
        headers=admin.headers(),
    )
    assert response.status_code == 409
    assert client.get("/api/v1/me").status_code == 200
    assert audit_count(services) == 0


def _bought_and_spent(visitor_client: TestClient, user: SignedUp) -> str:
    """A paid demo purchase of the 20-token starter pack: the user then has 23 tokens."""
    started = visitor_client.post(
        "/api/v1/checkout", json={"pack_id": "starter"}, headers=user.headers()
    ).json()
    paid = visitor_client.post(
        f"/api/v1/demo/purchases/{started['purchase_id']}/complete", headers=user.headers()
    )
    assert paid.status_code == 200
    assert visitor_client.get("/api/v1/me").json()["balance"] == 23
    purchase_id: str = started["purchase_id"]
    return purchase_id


def test_demo_refund_claws_back_once_and_shows_the_debt(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    ada = sign_up(visitor_client, "ada@example.com")
    purchase_id = _bought_and_spent(visitor_client, ada)
    # The tokens are spent (here: taken back by an admin) before the refund.
    client.post(
        f"/api/v1/admin/users/{ada.user_id}/revoke",
        json={"amount": 21, "reason": "spent"},
        headers=admin.headers(),
    )
    listed = client.get("/admin/purchases", headers=HTML).text
    assert f'data-purchase-id="{purchase_id}" data-status="paid"' in listed
    refunded = client.post(
        f"/admin/purchases/{purchase_id}/refund",
        data={
            "reason": "customer asked",
            "csrf_token": admin.csrf_token,
            "back": "/admin/purchases",
        },
        follow_redirects=False,
    )
    assert refunded.status_code == 303
    assert refunded.headers["location"] == "/admin/purchases?done=refund"
    assert visitor_client.get("/api/v1/me").json()["balance"] == 2 - 20
    purchases = visitor_client.get("/api/v1/purchases").json()
    assert [p["status"] for p in purchases] == ["refunded"]

    # A second refund, through either door, changes nothing.
    again = client.post(
        f"/api/v1/admin/purchases/{purchase_id}/refund",
        json={"reason": "double click"},
        headers=admin.headers(),
    )
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "This purchase was refunded already."
    (clawback,) = _entries(services, ada.user_id, "clawback")
    assert (clawback.amount, clawback.actor) == (-20, "admin@example.com")
    row = _only_audit_row(services, "purchase.refund")
    assert row["target"] == ("purchase", purchase_id)
    details = row["details"]
    assert isinstance(details, dict)
    assert details["reason"] == "customer asked"
    assert details["provider"] == "demo" and details["stripe_refund_id"] is None
    assert details["tokens_clawed_back"] == 20 and details["available_after"] == -18
    assert details["user_id"] == ada.user_id
    assert_ledger_clean(services)

    # The debt shows in the console; a grant settles it.
    users = client.get("/admin/users", headers=HTML).text
    assert 'class="row-owes"' in users and "owes 18" in users
    page = client.get(f"/admin/users/{ada.user_id}", headers=HTML).text
    assert 'data-testid="negative-balance"' in page and "Owes 18 tokens" in page
    assert "purchase.refund" in page
    assert client.get("/api/v1/admin/users").json()[0]["balance"] == -18
    settled = client.post(
        f"/api/v1/admin/users/{ada.user_id}/grant",
        json={"amount": 18, "reason": "goodwill"},
        headers=admin.headers(),
    )
    assert settled.json()["balance"] == 0
    assert_ledger_clean(services)


def test_concurrent_refunds_claw_back_once(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    """Four refunds start together: all pass the unlocked look at the purchase, then one
    claws back and three find it refunded.

    On SQLite the writers of one process take turns by design (`Database.transaction`); the
    PostgreSQL run is the race, between the row locks of concurrent transactions.
    """
    ada = sign_up(visitor_client, "ada@example.com")
    purchase_id = _bought_and_spent(visitor_client, ada)
    start = threading.Barrier(4)

    def refund(_: int) -> int:
        start.wait(10)
        return client.post(
            f"/api/v1/admin/purchases/{purchase_id}/refund",
            json={"reason": "race"},
            headers=admin.headers(),
        ).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(refund, range(4)))
    assert statuses == [200, 409, 409, 409]
    assert len(_entries(services, ada.user_id, "clawback")) == 1
    assert len(audit_rows(services, action="purchase.refund")) == 1
    assert visitor_client.get("/api/v1/me").json()["balance"] == 3
    assert_ledger_clean(services)


def test_only_paid_purchases_are_refundable(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    ada = sign_up(visitor_client, "ada@example.com")
    started = visitor_client.post(
        "/api/v1/checkout", json={"pack_id": "starter"}, headers=ada.headers()
    ).json()
    response = client.post(
        f"/api/v1/admin/purchases/{started['purchase_id']}/refund",
        json={"reason": "x"},
        headers=admin.headers(),
    )
    assert response.status_code == 409
    assert "Only paid purchases" in response.json()["error"]["message"]
    assert (
        client.post(
            "/api/v1/admin/purchases/nope/refund", json={"reason": "x"}, headers=admin.headers()
        ).status_code
        == 404
    )
    assert audit_count(services) == 0


def test_user_search(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    for email in ("ada@example.com", "grace@example.org", "a_b%c@example.net"):
        sign_up(visitor_client, email)
        visitor_client.cookies.clear()
    found = client.get("/api/v1/admin/users", params={"q": "EXAMPLE.ORG"}).json()
    assert [u["email"] for u in found] == ["grace@example.org"]
    assert [u["email"] for u in client.get("/api/v1/admin/users", params={"q": "_b%"}).json()] == [
        "a_b%c@example.net"
    ]
    by_id = client.get("/api/v1/admin/users", params={"q": str(admin.user_id)}).json()
    assert [u["email"] for u in by_id] == ["admin@example.com"]
    page = client.get("/admin/users", params={"q": "ada"}, headers=HTML).text
    assert page.count('data-testid="user-row"') == 1 and "ada@example.com" in page
    none = client.get("/admin/users", params={"q": "nobody"}, headers=HTML).text
    assert 'data-testid="no-users"' in none
    detail = client.get(f"/api/v1/admin/users/{admin.user_id}").json()
    assert detail["ledger"][0]["kind"] == "signup_bonus"


def test_resend_verification_from_the_user_page(
    client: TestClient, visitor_client: TestClient, services: Services, admin: SignedUp
) -> None:
    signed_up = visitor_client.post(
        "/api/v1/auth/signup", json={"email": "bea@example.com", "password": PASSWORD}
    )
    assert signed_up.status_code == 201
    bea = signed_up.json()["user"]["id"]
    page = f"/admin/users/{bea}"
    assert 'data-testid="resend-verification-form"' in client.get(page, headers=HTML).text
    first = mailed_token(services, bea)

    sent = client.post(
        f"{page}/resend-verification",
        data={"csrf_token": admin.csrf_token},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "new verification link" in client.get(sent.headers["location"], headers=HTML).text
    second = mailed_token(services, bea)
    assert second is not None and second != first
    row = _only_audit_row(services, "user.resend_verification")
    assert row["target"] == ("user", str(bea))

    # The new link verifies; then there is nothing to send and the form is gone.
    verified = visitor_client.post("/api/v1/auth/verify-email", json={"token": second})
    assert verified.status_code == 200
    again = client.post(
        f"{page}/resend-verification",
        data={"csrf_token": admin.csrf_token},
        follow_redirects=False,
    )
    assert again.status_code == 409
    assert "verified already" in again.text
    assert 'data-testid="resend-verification-form"' not in client.get(page, headers=HTML).text
    assert audit_count(services) == 1
