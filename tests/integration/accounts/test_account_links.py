"""Verification, password reset, password and address changes through the API, on SQLite and
PostgreSQL: what each link does, once, and that bad links change nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.factories import PASSWORD, mailed_token, photo_bytes, sign_up, verify_by_mail

from forkable.accounts.links import BadLink
from forkable.accounts.models import AccountToken, User
from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import create_user
from forkable.accounts.tokens import token_hash
from forkable.accounts.verification import verify
from forkable.db.types import utcnow
from forkable.ledger.models import LedgerEntry
from forkable.mail.models import OutboxMail
from forkable.services import Services

SIGNUP = "/api/v1/auth/signup"
VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/verify-email/resend"
RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "a brand new passphrase 42"


def _signup(client: TestClient, email: str = "ada@example.com") -> dict[str, object]:
    response = client.post(SIGNUP, json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _user_id(body: dict[str, object]) -> int:
    user = body["user"]
    assert isinstance(user, dict)
    return int(user["id"])


def _mails(services: Services, kind: str | None = None) -> list[OutboxMail]:
    with services.database.session() as session:
        query = select(OutboxMail).order_by(OutboxMail.created_at)
        if kind is not None:
            query = query.where(OutboxMail.kind == kind)
        return list(session.scalars(query))


def _user(services: Services, user_id: int) -> User:
    with services.database.session() as session:
        return session.get_one(User, user_id)


def _bonus_entries(services: Services, user_id: int) -> int:
    with services.database.session() as session:
        return len(
            session.scalars(
                select(LedgerEntry.id).where(
                    LedgerEntry.user_id == user_id, LedgerEntry.kind == "signup_bonus"
                )
            ).all()
        )


@pytest.fixture
def second(app: FastAPI) -> Iterator[TestClient]:
    """Another browser on the same site (its own cookies)."""
    with TestClient(app, base_url="http://coloringbook.localhost") as other:
        yield other


class TestVerification:
    def test_the_bonus_waits_for_the_link_and_is_granted_once(
        self, client: TestClient, services: Services
    ) -> None:
        body = _signup(client)
        user_id = _user_id(body)
        assert client.get("/api/v1/me").json()["balance"] == 0
        (mail,) = _mails(services, "verify_email")
        assert mail.to_address == "ada@example.com" and mail.user_id == user_id
        assert "http://coloringbook.localhost/verify-email?token=" in (mail.body_text or "")
        token = mailed_token(services, user_id)
        assert token is not None
        # Only the hash is stored.
        with services.database.session() as session:
            stored = session.scalars(select(AccountToken.token_hash)).all()
        assert stored == [token_hash(token)]

        first = client.post(VERIFY, json={"token": token})
        assert first.status_code == 200, first.text
        assert first.json() == {"email": "ada@example.com", "changed": False, "bonus_granted": 3}
        again = client.post(VERIFY, json={"token": token})
        assert again.status_code == 400
        assert again.json()["error"]["code"] == "invalid_link"
        assert client.get("/api/v1/me").json()["balance"] == 3
        assert _bonus_entries(services, user_id) == 1
        assert _user(services, user_id).email_verified_at is not None

    def test_two_links_used_at_the_same_moment_grant_the_bonus_once(
        self, client: TestClient, services: Services
    ) -> None:
        body = _signup(client)
        user_id = _user_id(body)
        first = mailed_token(services, user_id)
        resent = client.post(RESEND, headers={"x-csrf-token": str(body["csrf_token"])})
        assert resent.status_code == 202, resent.text
        second = mailed_token(services, user_id)
        assert first and second and first != second
        site = services.sites.get("coloringbook")
        assert site is not None
        # Each token twice: four verifications released together.
        tokens = [first, second, first, second]
        start = threading.Barrier(len(tokens))
        outcomes: list[object] = []

        def use(token: str) -> None:
            start.wait()
            try:
                outcomes.append(verify(services.database, site, token).bonus_granted)
            except BadLink as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=use, args=(token,)) for token in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        granted = [outcome for outcome in outcomes if isinstance(outcome, int)]
        assert len(granted) == 2, outcomes  # each link works once
        assert sorted(granted) == [0, 3]  # and the bonus comes once
        assert sum(isinstance(outcome, BadLink) for outcome in outcomes) == 2
        assert _bonus_entries(services, user_id) == 1
        assert client.get("/api/v1/me").json()["balance"] == 3

    @pytest.mark.parametrize("spoil", ["tampered", "unknown", "expired", "used", "other_site"])
    def test_bad_links_are_400_and_change_nothing(
        self, client: TestClient, services: Services, spoil: str
    ) -> None:
        body = _signup(client)
        user_id = _user_id(body)
        token = mailed_token(services, user_id)
        assert token is not None
        host = None
        if spoil == "tampered":
            token = token[:-1] + ("A" if token[-1] != "A" else "B")
        elif spoil == "unknown":
            token = "x" * 43
        elif spoil == "expired":
            with services.database.transaction() as session:
                session.execute(
                    update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1))
                )
        elif spoil == "used":
            with services.database.transaction() as session:
                session.execute(update(AccountToken).values(used_at=utcnow()))
        else:
            host = "pencilsketch.localhost"  # the same token, presented to another site
        response = client.post(
            VERIFY, json={"token": token}, headers={"host": host} if host else {}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_link"
        assert "not valid" in response.json()["error"]["message"]
        assert client.get("/api/v1/me").json()["balance"] == 0
        assert _user(services, user_id).email_verified_at is None
        assert _bonus_entries(services, user_id) == 0

    def test_resend_is_throttled(self, client: TestClient, services: Services) -> None:
        body = _signup(client)
        headers = {"x-csrf-token": str(body["csrf_token"])}
        assert client.post(RESEND, headers=headers).status_code == 202
        refused = client.post(RESEND, headers=headers)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert len(_mails(services, "verify_email")) == 2

    def test_users_made_by_the_operator_count_as_verified(
        self, client: TestClient, services: Services
    ) -> None:
        user = create_user(
            services.database,
            fast_passwords(),
            site_id="coloringbook",
            email="op@example.com",
            password=PASSWORD,
            signup_bonus=0,
        )
        assert _user(services, user.id).email_verified_at is not None
        assert _mails(services) == []


def _set_mode(sites_dir: Path, mode: str) -> None:
    manifest = sites_dir / "coloringbook" / "site.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8") + f'\n[accounts]\nverify_email = "{mode}"\n',
        encoding="utf-8",
    )


class TestRequiredMode:
    @pytest.fixture
    def sites_dir(self, sites_dir: Path) -> Path:
        _set_mode(sites_dir, "required")
        return sites_dir

    def test_no_images_until_the_address_is_verified(
        self, client: TestClient, services: Services
    ) -> None:
        body = _signup(client)
        user_id = _user_id(body)
        headers = {"x-csrf-token": str(body["csrf_token"])}
        files = {"image": ("photo.jpg", photo_bytes(size=64), "image/jpeg")}
        refused = client.post("/api/v1/generations", files=files, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "email_unverified"
        verify_by_mail(client, services, user_id)
        assert client.get("/api/v1/me").json()["balance"] == 3
        accepted = client.post("/api/v1/generations", files=files, headers=headers)
        assert accepted.status_code == 202, accepted.text


class TestOffMode:
    @pytest.fixture
    def sites_dir(self, sites_dir: Path) -> Path:
        _set_mode(sites_dir, "off")
        return sites_dir

    def test_the_bonus_comes_with_the_account_and_nothing_is_mailed(
        self, client: TestClient, services: Services
    ) -> None:
        body = _signup(client)
        assert client.get("/api/v1/me").json()["balance"] == 3
        assert _mails(services) == []
        assert _bonus_entries(services, _user_id(body)) == 1


class TestPasswordReset:
    def test_an_unknown_address_gets_the_same_answer_and_no_mail(
        self, client: TestClient, services: Services
    ) -> None:
        sign_up(client)
        before = len(_mails(services))
        known = client.post(RESET, json={"email": "ada@example.com"})
        unknown = client.post(RESET, json={"email": "nobody@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        resets = _mails(services, "password_reset")
        assert [mail.to_address for mail in resets] == ["ada@example.com"]
        assert len(_mails(services)) == before + 1

    def test_a_reset_ends_every_session_and_the_old_password(
        self, client: TestClient, second: TestClient, services: Services
    ) -> None:
        user = sign_up(client)
        assert second.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
        key = client.post("/api/v1/api-keys", json={"name": "script"}, headers=user.headers())
        assert key.status_code == 201
        bearer = {"authorization": f"Bearer {key.json()['key']}"}
        assert client.post(RESET, json={"email": user.email}).status_code == 202
        token = mailed_token(services, user.user_id, "password_reset")
        assert token is not None

        weak = client.post(CONFIRM, json={"token": token, "password": "password"})
        assert weak.status_code == 422
        assert weak.json()["error"]["code"] == "weak_password"
        done = client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD})
        assert done.status_code == 200, done.text

        assert client.get("/api/v1/me").status_code == 401
        assert second.get("/api/v1/me").status_code == 401
        assert client.get("/api/v1/me", headers=bearer).status_code == 200  # keys stay
        old = {"email": user.email, "password": PASSWORD}
        assert client.post("/api/v1/auth/login", json=old).status_code == 401
        new = {"email": user.email, "password": NEW_PASSWORD}
        assert client.post("/api/v1/auth/login", json=new).status_code == 200
        reused = client.post(CONFIRM, json={"token": token, "password": "another one entirely 7"})
        assert reused.status_code == 400
        (changed,) = _mails(services, "password_changed")
        assert "API keys keep working" in (changed.body_text or "")

    def test_an_expired_reset_link_changes_nothing(
        self, client: TestClient, services: Services
    ) -> None:
        user = sign_up(client)
        client.post(RESET, json={"email": user.email})
        token = mailed_token(services, user.user_id, "password_reset")
        with services.database.transaction() as session:
            session.execute(
                update(AccountToken)
                .where(AccountToken.purpose == "password_reset")
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        response = client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD})
        assert response.status_code == 400
        assert client.get("/api/v1/me").status_code == 200  # still signed in
        old = {"email": user.email, "password": PASSWORD}
        assert client.post("/api/v1/auth/login", json=old).status_code == 200

    def test_a_verification_link_does_not_reset_a_password(
        self, client: TestClient, services: Services
    ) -> None:
        body = _signup(client)
        token = mailed_token(services, _user_id(body))
        response = client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD})
        assert response.status_code == 400

    def test_resets_are_throttled_per_address(self, client: TestClient) -> None:
        answers = [
            client.post(RESET, json={"email": "ada@example.com"}).status_code for _ in range(4)
        ]
        assert answers == [202, 202, 202, 429]


class TestChangePassword:
    def test_the_current_session_stays_and_the_others_end(
        self, client: TestClient, second: TestClient, services: Services
    ) -> None:
        user = sign_up(client)
        login = {"email": user.email, "password": PASSWORD}
        assert second.post("/api/v1/auth/login", json=login).status_code == 200
        wrong = client.post(
            "/api/v1/me/password",
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
            headers=user.headers(),
        )
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "wrong_password"
        assert second.get("/api/v1/me").status_code == 200  # nothing ended
        changed = client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=user.headers(),
        )
        assert changed.status_code == 200, changed.text
        assert client.get("/api/v1/me").status_code == 200
        assert second.get("/api/v1/me").status_code == 401
        assert second.post("/api/v1/auth/login", json=login).status_code == 401
        new = {"email": user.email, "password": NEW_PASSWORD}
        assert second.post("/api/v1/auth/login", json=new).status_code == 200
        assert len(_mails(services, "password_changed")) == 1


class TestChangeAddress:
    def test_the_address_changes_when_the_new_one_is_confirmed(
        self, client: TestClient, services: Services
    ) -> None:
        user = sign_up(client)
        sign_up_other = _signup_other(client.app)  # type: ignore[arg-type]
        assert sign_up_other
        change = "/api/v1/me/email"
        cases = [
            ({"password": "wrong password!", "new_email": "new@example.com"}, 403),
            ({"password": PASSWORD, "new_email": "other@example.com"}, 409),
            ({"password": PASSWORD, "new_email": "not an address"}, 422),
            ({"password": PASSWORD, "new_email": user.email}, 422),
        ]
        for payload, status in cases:
            answer = client.post(change, json=payload, headers=user.headers())
            assert answer.status_code == status, (payload, answer.text)
        assert _mails(services, "email_change") == []

        asked = client.post(
            change,
            json={"password": PASSWORD, "new_email": "New@Example.com"},
            headers=user.headers(),
        )
        assert asked.status_code == 202, asked.text
        (mail,) = _mails(services, "email_change")
        assert mail.to_address == "new@example.com"
        assert client.get("/api/v1/me").json()["email"] == user.email  # not yet
        token = mailed_token(services, user.user_id, "email_change")
        done = client.post(VERIFY, json={"token": token})
        assert done.status_code == 200, done.text
        assert done.json() == {"email": "new@example.com", "changed": True, "bonus_granted": 0}
        assert client.get("/api/v1/me").json()["email"] == "new@example.com"
        (told,) = _mails(services, "email_changed")
        assert told.to_address == user.email
        assert "new@example.com" in (told.body_text or "")
        login = {"email": "new@example.com", "password": PASSWORD}
        assert client.post("/api/v1/auth/login", json=login).status_code == 200
        assert client.post(VERIFY, json={"token": token}).status_code == 400


def _signup_other(app: FastAPI) -> bool:
    with TestClient(app, base_url="http://coloringbook.localhost") as other:
        sign_up(other, "other@example.com")
    return True
