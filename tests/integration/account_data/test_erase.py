"""`DELETE /api/v1/me`: the account ends, its files go, its address is nowhere, the books hold."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, Text, func, select, update
from tests.factories import PASSWORD, SignedUp, sign_up, upload, wait_for

from forkable.accounts.models import ApiKey, User, UserSession
from forkable.admin.models import AuditEntry
from forkable.db.base import Base
from forkable.ledger.book import debit, get_balance
from forkable.ledger.models import EntryKind
from forkable.mail.models import OutboxMail
from forkable.services import Services
from forkable.storage import MissingMedia

from .conftest import Served, assert_ledger_clean, generation_keys


def _delete(client: TestClient, user: SignedUp, password: str = PASSWORD) -> object:
    return client.request(
        "DELETE", "/api/v1/me", json={"password": password}, headers=user.headers()
    )


def _login(client: TestClient, email: str, password: str = PASSWORD) -> int:
    return client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    ).status_code


def _made_image(client: TestClient, user: SignedUp) -> str:
    submitted = upload(client, user)
    assert submitted.status_code == 202, submitted.text  # type: ignore[attr-defined]
    generation_id = str(submitted.json()["id"])  # type: ignore[attr-defined]
    assert wait_for(client, generation_id)["status"] == "succeeded"
    return generation_id


def _where_text_is(services: Services, needle: str) -> list[tuple[str, str, object]]:
    """Every (table, column, primary key) whose text holds ``needle``, in every table."""
    hits: list[tuple[str, str, object]] = []
    with services.database.session() as session:
        for table in Base.metadata.sorted_tables:
            key = next(iter(table.primary_key.columns))
            for column in table.columns:
                if not isinstance(column.type, String | Text):
                    continue
                rows = session.execute(
                    select(key).where(func.lower(column).contains(needle.lower()))
                ).all()
                hits.extend((table.name, column.name, row[0]) for row in rows)
    return hits


def test_deleting_the_account_erases_it_and_keeps_the_books(served: Served) -> None:
    client, services = served.client, served.services
    user = sign_up(client, "Leaving@Example.com")
    address = "leaving@example.com"
    key = client.post("/api/v1/api-keys", json={"name": "mine"}, headers=user.headers())
    api_key = key.json()["key"]
    generation_id = _made_image(client, user)
    [(_, photo_key, result_key)] = generation_keys(services, user.user_id)
    assert photo_key and result_key
    started = client.post("/api/v1/checkout", json={"pack_id": "starter"}, headers=user.headers())
    assert started.status_code == 201
    with services.database.session() as session:
        balance_before = get_balance(session, user.user_id)

    # A second browser signed in to the same account: it is signed out too.
    other = TestClient(client.app, base_url=str(client.base_url))
    assert _login(other, address) == 200

    answer = _delete(client, user)
    assert answer.status_code == 204, answer.text  # type: ignore[attr-defined]

    # Signed out everywhere, the key is dead, the password opens nothing.
    assert client.get("/api/v1/me").status_code == 401
    assert other.get("/api/v1/me").status_code == 401
    keyed = client.get("/api/v1/me", headers={"authorization": f"Bearer {api_key}"})
    assert keyed.status_code == 401
    assert _login(client, address) == 401
    assert _login(client, f"deleted-{user.user_id}@erased.invalid", "!erased") == 401
    other.close()

    # The files are gone from the store, the keys from the row; the row and ledger stay.
    for stored in (photo_key, result_key):
        with pytest.raises(MissingMedia):
            services.store.get(stored)
    assert generation_keys(services, user.user_id) == [(generation_id, None, None)]
    with services.database.session() as session:
        row = session.get(User, user.user_id)
        assert row is not None
        assert row.email == f"deleted-{user.user_id}@erased.invalid"
        assert row.deleted_at is not None and row.disabled_at is not None
        assert (
            session.scalar(
                select(func.count()).select_from(UserSession).where(UserSession.user_id == row.id)
            )
            == 0
        )
        keys = list(session.scalars(select(ApiKey).where(ApiKey.user_id == row.id)))
        assert keys and all(k.revoked_at is not None for k in keys)
        assert get_balance(session, user.user_id) == balance_before
        [audit] = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.delete"))
        goodbye = session.scalars(
            select(OutboxMail).where(OutboxMail.event_key == f"account-deleted:{row.id}")
        ).one()
    assert_ledger_clean(services)
    assert (audit.target_type, audit.target_id, audit.ip) == ("user", str(user.user_id), None)
    assert json.loads(audit.details or "{}") == {"by": "self", "photos": 1, "results": 1}
    assert goodbye.kind == "account_deleted" and goodbye.user_id is None
    assert goodbye.to_address == address

    # The address is nowhere but in the goodbye mail waiting to go (its delivery blanks it).
    hits = _where_text_is(services, address)
    assert {(table, pk) for table, _, pk in hits} == {("mail_outbox", goodbye.id)}, hits

    # The tombstone cannot be signed up into; the address can start afresh.
    tombstone = client.post(
        "/api/v1/auth/signup",
        json={"email": f"deleted-{user.user_id}@erased.invalid", "password": PASSWORD},
    )
    assert tombstone.status_code in (409, 422), tombstone.text
    fresh = sign_up(client, address)
    assert fresh.user_id != user.user_id
    assert client.get("/api/v1/generations").json()["items"] == []


def test_a_wrong_password_deletes_nothing(client: TestClient, services: Services) -> None:
    user = sign_up(client)
    generation_id = _made_image(client, user)
    answer = _delete(client, user, "not the password at all")
    assert answer.status_code == 403  # type: ignore[attr-defined]
    assert answer.json()["error"]["code"] == "wrong_password"  # type: ignore[attr-defined]
    assert client.get("/api/v1/me").json()["email"] == user.email
    assert client.get(f"/api/v1/generations/{generation_id}/result").status_code == 200
    with services.database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    assert _login(client, user.email) == 200


def test_an_api_key_cannot_delete_the_account(client: TestClient) -> None:
    user = sign_up(client)
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=user.headers()).json()
    client.cookies.clear()
    answer = client.request(
        "DELETE",
        "/api/v1/me",
        json={"password": PASSWORD},
        headers={"authorization": f"Bearer {key['key']}"},
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "session_required"
    assert _login(client, user.email) == 200


def test_without_the_csrf_token_nothing_is_deleted(client: TestClient) -> None:
    user = sign_up(client)
    answer = client.request("DELETE", "/api/v1/me", json={"password": PASSWORD})
    assert answer.status_code == 403
    assert client.get("/api/v1/me").json()["id"] == user.user_id


def test_a_user_who_owes_tokens_can_delete_and_the_debt_stays(
    client: TestClient, services: Services
) -> None:
    user = sign_up(client)
    with services.database.transaction() as session:
        debit(
            session,
            site_id="coloringbook",
            user_id=user.user_id,
            amount=10,
            kind=EntryKind.CLAWBACK,
            ref="clawback:test-dispute",
            reason="dispute",
            actor="stripe",
            allow_negative=True,
        )
    assert client.get("/api/v1/me").json()["balance"] < 0
    assert _delete(client, user).status_code == 204  # type: ignore[attr-defined]
    with services.database.session() as session:
        assert get_balance(session, user.user_id).balance == -7  # 3 sign-up tokens - 10
    assert_ledger_clean(services)


def test_an_admin_who_leaves_leaves_no_address_or_ip_in_the_audit_log(
    client: TestClient, services: Services
) -> None:
    other = sign_up(client, "someone@example.com")
    client.cookies.clear()
    admin = sign_up(client, "boss@example.com")
    with services.database.transaction() as session:
        session.execute(update(User).where(User.id == admin.user_id).values(is_admin=True))
    granted = client.post(
        f"/api/v1/admin/users/{other.user_id}/grant",
        json={"amount": 5, "reason": "welcome gift"},
        headers=admin.headers(),
    )
    assert granted.status_code == 200, granted.text
    with services.database.session() as session:
        [grant] = session.scalars(select(AuditEntry).where(AuditEntry.action == "tokens.grant"))
    assert grant.actor == "boss@example.com" and grant.ip is not None
    assert {table for table, _, _ in _where_text_is(services, "boss@example.com")} >= {
        "audit_log",
        "ledger_entries",
    }

    assert _delete(client, admin).status_code == 204  # type: ignore[attr-defined]

    hits = _where_text_is(services, "boss@example.com")
    assert {(table, pk) for table, _, pk in hits} == {
        ("mail_outbox", _goodbye_id(services, admin.user_id))
    }, hits
    with services.database.session() as session:
        kept = session.get(AuditEntry, grant.id)
        assert kept is not None
        assert (kept.action, kept.target_id, kept.ip) == ("tokens.grant", str(other.user_id), None)
        assert kept.actor == f"deleted-{admin.user_id}@erased.invalid"
    # The grant itself stands: the other user keeps the tokens.
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": "someone@example.com", "password": PASSWORD}
        ).json()["user"]["balance"]
        == 3 + 5
    )
    assert_ledger_clean(services)


def _goodbye_id(services: Services, user_id: int) -> str:
    with services.database.session() as session:
        found = session.scalar(
            select(OutboxMail.id).where(OutboxMail.event_key == f"account-deleted:{user_id}")
        )
    return str(found)


def test_guessing_the_password_is_throttled_like_a_login(client: TestClient) -> None:
    user = sign_up(client)
    statuses = [
        _delete(client, user, f"guess number {n}").status_code  # type: ignore[attr-defined]
        for n in range(12)
    ]
    assert statuses[0] == 403 and statuses[-1] == 429, statuses
    assert client.get("/api/v1/me").json()["id"] == user.user_id
