"""Account actions: sign-up, login, sessions and API keys. One transaction each."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forkable.accounts.emails import normalise_email
from forkable.accounts.models import ApiKey, User, UserSession
from forkable.accounts.passwords import Passwords, PasswordsBusy, check_password_rules
from forkable.accounts.tokens import new_api_key, new_token, token_hash
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.ledger.book import credit, open_account
from forkable.ledger.models import EntryKind

SESSION_LIFETIME = timedelta(days=30)
# Refresh `last_seen_at` at most this often, so reading pages does not write on every request.
_SEEN_RESOLUTION = timedelta(minutes=5)


class EmailTaken(Exception):
    """Another account on this site uses the address."""


class InvalidCredentials(Exception):
    """Unknown e-mail, wrong password or disabled account: one error for all three."""


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie; only its hash is stored
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Principal:
    """Who is making a request, and how they proved it."""

    user_id: int
    site_id: str
    email: str
    is_admin: bool
    via: str  # "session" or "api_key"
    csrf_token: str | None = None
    session_hash: str | None = None


def check_signup(email: str, password: str) -> str:
    """The normal form of ``email``; InvalidEmail or WeakPassword when either is unusable.

    Costs no hashing, so callers may run it before they count an attempt.
    """
    address = normalise_email(email)
    check_password_rules(password, email=address)
    return address


def email_taken(database: Database, *, site_id: str, address: str) -> bool:
    with database.session() as session:
        found = session.scalar(
            select(User.id).where(User.site_id == site_id, User.email == address)
        )
    return found is not None


def signup_ref(user_id: int) -> str:
    """The ledger ref of a user's sign-up bonus: booked once, whenever it is granted."""
    return f"signup:{user_id}"


def create_user(
    database: Database,
    passwords: Passwords,
    *,
    site_id: str,
    email: str,
    password: str,
    signup_bonus: int,
    is_admin: bool = False,
    verified: bool = True,
    then: Callable[[Session, User], None] | None = None,
) -> User:
    """A new user with a token account and the site's sign-up bonus, all or nothing.

    ``verified``: the address counts as proven from the start (users made by the operator);
    sign-ups pass False and a zero bonus when the bonus waits for the mailed link. ``then``
    runs in the same transaction once the user has an id (issuing that link, queueing its mail).

    A taken address is refused before hashing: sign-up answers "taken" anyway, so the time
    saved tells nothing new, and refused attempts cost no 64 MiB hash. Two sign-ups racing
    for a free address both hash; the unique index refuses the second.
    """
    address = check_signup(email, password)
    if email_taken(database, site_id=site_id, address=address):
        raise EmailTaken(address)
    password_hash = passwords.hash(password)
    try:
        with database.transaction() as session:
            user = User(
                site_id=site_id,
                email=address,
                password_hash=password_hash,
                is_admin=is_admin,
                email_verified_at=utcnow() if verified else None,
            )
            session.add(user)
            session.flush()
            open_account(session, site_id=site_id, user_id=user.id)
            if signup_bonus > 0:
                credit(
                    session,
                    site_id=site_id,
                    user_id=user.id,
                    amount=signup_bonus,
                    kind=EntryKind.SIGNUP_BONUS,
                    ref=signup_ref(user.id),
                )
            if then is not None:
                then(session, user)
    except IntegrityError as exc:
        raise EmailTaken(address) from exc
    return user


def authenticate(
    database: Database, passwords: Passwords, *, site_id: str, email: str, password: str
) -> User:
    """The user whose credentials these are; InvalidCredentials otherwise, in similar time.

    PasswordsBusy when no hashing slot came free: nothing was checked.
    """
    try:
        address = normalise_email(email)
    except ValueError:
        address = ""
    with database.session() as session:
        user = session.scalar(select(User).where(User.site_id == site_id, User.email == address))
    valid = passwords.verify(user.password_hash if user else None, password)
    if user is None or not valid or user.disabled_at is not None:
        raise InvalidCredentials
    if passwords.needs_rehash(user.password_hash):
        # Best effort: when the server is busy, the next login upgrades the hash.
        with suppress(PasswordsBusy):
            upgraded = passwords.hash(password)
            with database.transaction() as session:
                session.execute(
                    update(User).where(User.id == user.id).values(password_hash=upgraded)
                )
    return user


def start_session(database: Database, *, user: User, replaces: str | None = None) -> NewSession:
    """A fresh session for ``user``; the one it replaces (if any) is destroyed: rotation."""
    token = new_token()
    created = NewSession(
        token=token, csrf_token=new_token(), expires_at=utcnow() + SESSION_LIFETIME
    )
    with database.transaction() as session:
        if replaces:
            session.execute(delete(UserSession).where(UserSession.token_hash == replaces))
        session.add(
            UserSession(
                token_hash=token_hash(token),
                site_id=user.site_id,
                user_id=user.id,
                csrf_token=created.csrf_token,
                expires_at=created.expires_at,
            )
        )
    return created


def end_sessions(session: Session, *, user_id: int, keep: str | None = None) -> None:
    """End every session of ``user_id`` (but ``keep``, the caller's own) in the caller's
    transaction. API keys are not sessions: they stay until revoked."""
    statement = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        statement = statement.where(UserSession.token_hash != keep)
    session.execute(statement)


def end_session(database: Database, session_hash: str) -> None:
    with database.transaction() as session:
        session.execute(delete(UserSession).where(UserSession.token_hash == session_hash))


def principal_from_session(database: Database, *, site_id: str, token: str) -> Principal | None:
    """The signed-in user of this site for a cookie token, or None."""
    hashed = token_hash(token)
    now = utcnow()
    with database.session() as session:
        row = session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == hashed, UserSession.site_id == site_id)
        ).one_or_none()
    if row is None:
        return None
    user_session, user = row
    if user_session.expires_at <= now or user.disabled_at is not None:
        return None
    if now - user_session.last_seen_at > _SEEN_RESOLUTION:
        with database.transaction() as session:
            session.execute(
                update(UserSession).where(UserSession.token_hash == hashed).values(last_seen_at=now)
            )
    return Principal(
        user_id=user.id,
        site_id=site_id,
        email=user.email,
        is_admin=user.is_admin,
        via="session",
        csrf_token=user_session.csrf_token,
        session_hash=hashed,
    )


def principal_from_api_key(database: Database, *, site_id: str, key: str) -> Principal | None:
    """The owner of an API key of this site, or None (revoked, unknown, another site's)."""
    hashed = token_hash(key)
    with database.session() as session:
        row = session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.key_hash == hashed, ApiKey.site_id == site_id)
        ).one_or_none()
    if row is None:
        return None
    api_key, user = row
    if api_key.revoked_at is not None or user.disabled_at is not None:
        return None
    now = utcnow()
    if api_key.last_used_at is None or now - api_key.last_used_at > _SEEN_RESOLUTION:
        with database.transaction() as session:
            session.execute(update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now))
    return Principal(
        user_id=user.id, site_id=site_id, email=user.email, is_admin=user.is_admin, via="api_key"
    )


@dataclass(frozen=True)
class CreatedApiKey:
    row: ApiKey
    key: str  # shown once, never stored


def create_api_key(database: Database, principal: Principal, name: str) -> CreatedApiKey:
    key = new_api_key()
    row = ApiKey(
        id=uuid.uuid4().hex,
        site_id=principal.site_id,
        user_id=principal.user_id,
        name=name.strip()[:80] or "API key",
        prefix=key[:10],
        key_hash=token_hash(key),
    )
    with database.transaction() as session:
        session.add(row)
    return CreatedApiKey(row=row, key=key)


def list_api_keys(database: Database, principal: Principal) -> list[ApiKey]:
    with database.session() as session:
        return list(
            session.scalars(
                select(ApiKey)
                .where(
                    ApiKey.site_id == principal.site_id,
                    ApiKey.user_id == principal.user_id,
                    ApiKey.revoked_at.is_(None),
                )
                .order_by(ApiKey.created_at.desc())
            )
        )


def revoke_api_key(database: Database, principal: Principal, key_id: str) -> bool:
    """True when one of the principal's live keys was revoked."""
    with database.transaction() as session:
        result = session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                ApiKey.site_id == principal.site_id,
                ApiKey.user_id == principal.user_id,
                ApiKey.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]
