"""Changing what signs a user in: a forgotten password reset by mail, the password changed
with the current one, and a new address (which takes effect only once its link is used, in
`verification.verify`).

What ends: a reset ends every session of the account (whoever knew the old password is out);
a change ends every session but the one that made it. API keys stay in both cases, and the
PASSWORD_CHANGED mail says so.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forkable.accounts.emails import normalise_email
from forkable.accounts.links import BadLink, consume_link, issue_link, peek_link
from forkable.accounts.models import TokenPurpose, User
from forkable.accounts.passwords import Passwords, check_password_rules
from forkable.accounts.service import EmailTaken, Principal, end_sessions
from forkable.accounts.verification import token_key, verify_link
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.mail.compose import MailKind, compose, site_url
from forkable.mail.outbox import queue_mail
from forkable.sites import Site

RESET_PATH = "/reset-password"


class WrongPassword(Exception):
    """The current password given to confirm a change is not the account's."""


class SameEmail(ValueError):
    """The new address is the account's address already."""


def request_password_reset(
    database: Database, site: Site, *, email: str, base_url: str | None, now: datetime | None = None
) -> str | None:
    """Mail a reset link when ``email`` belongs to a live account of the site; the link, or
    None. The caller answers the same either way.

    Known and unknown addresses cost about the same: one indexed lookup; the mail is
    composed (templates render in well under a millisecond) before it is known whether it
    will be sent, and no password is hashed.
    """
    try:
        address = normalise_email(email)
    except ValueError:
        return None
    placeholder = site_url(site, RESET_PATH, base_url=base_url)
    compose(site, MailKind.PASSWORD_RESET, to=address, link=placeholder, base_url=base_url)
    with database.transaction() as session:
        user = session.scalar(
            select(User).where(
                User.site_id == site.id,
                User.email == address,
                User.deleted_at.is_(None),
                User.disabled_at.is_(None),
            )
        )
        if user is None:
            return None
        token = issue_link(
            session,
            site_id=site.id,
            user_id=user.id,
            purpose=TokenPurpose.PASSWORD_RESET,
            email=address,
            now=now,
        )
        link = site_url(site, f"{RESET_PATH}?token={token}", base_url=base_url)
        mail = compose(site, MailKind.PASSWORD_RESET, to=address, link=link, base_url=base_url)
        queue_mail(
            session, mail, site_id=site.id, event_key=f"reset:{token_key(token)}", user_id=user.id
        )
    return link


def reset_password(
    database: Database,
    passwords: Passwords,
    site: Site,
    *,
    token: str,
    new_password: str,
    base_url: str | None = None,
    now: datetime | None = None,
) -> int:
    """Set a new password through a reset link; every session of the account ends. The user's
    id. BadLink (nothing changed) or WeakPassword (the link stays usable); PasswordsBusy."""
    purposes = (TokenPurpose.PASSWORD_RESET,)
    with database.session() as session:
        # Looked at first, so a bad link costs no hash and a weak password does not use it up.
        link = peek_link(session, site_id=site.id, token=token, purposes=purposes, now=now)
    check_password_rules(new_password, email=link.email)
    password_hash = passwords.hash(new_password)
    with database.transaction() as session:
        used = consume_link(session, site_id=site.id, token=token, purposes=purposes, now=now)
        user = session.get(User, used.user_id)
        if user is None or user.email != used.email or user.deleted_at is not None:
            raise BadLink  # the address changed (or the account went) since the link was sent
        session.execute(update(User).where(User.id == user.id).values(password_hash=password_hash))
        end_sessions(session, user_id=user.id)
        _queue_changed(session, site, user, base_url=base_url)
    return user.id


def change_password(
    database: Database,
    passwords: Passwords,
    site: Site,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    base_url: str | None = None,
) -> None:
    """Change the signed-in user's password; their other sessions end, this one stays.
    WrongPassword, WeakPassword; PasswordsBusy."""
    user = _check_current(database, passwords, principal, current_password)
    check_password_rules(new_password, email=user.email)
    password_hash = passwords.hash(new_password)
    with database.transaction() as session:
        session.execute(update(User).where(User.id == user.id).values(password_hash=password_hash))
        end_sessions(session, user_id=user.id, keep=principal.session_hash)
        _queue_changed(session, site, user, base_url=base_url)


def request_email_change(
    database: Database,
    passwords: Passwords,
    site: Site,
    principal: Principal,
    *,
    password: str,
    new_email: str,
    base_url: str | None,
) -> str:
    """Mail a confirmation link to ``new_email``; the address changes when it is used. The
    link. WrongPassword, InvalidEmail, SameEmail, EmailTaken; PasswordsBusy."""
    user = _check_current(database, passwords, principal, password)
    address = normalise_email(new_email)
    if address == user.email:
        raise SameEmail("This is your address already.")
    with database.transaction() as session:
        taken = session.scalar(
            select(User.id).where(User.site_id == site.id, User.email == address)
        )
        if taken is not None:
            raise EmailTaken(address)
        token = issue_link(
            session,
            site_id=site.id,
            user_id=user.id,
            purpose=TokenPurpose.CHANGE_EMAIL,
            email=address,
        )
        link = verify_link(site, token, base_url=base_url)
        mail = compose(site, MailKind.EMAIL_CHANGE, to=address, link=link, base_url=base_url)
        queue_mail(
            session,
            mail,
            site_id=site.id,
            event_key=f"email-change:{token_key(token)}",
            user_id=user.id,
        )
    return link


def _check_current(
    database: Database, passwords: Passwords, principal: Principal, password: str
) -> User:
    with database.session() as session:
        user = session.get(User, principal.user_id)
    if user is None or not passwords.verify(user.password_hash, password):
        raise WrongPassword
    return user


def _queue_changed(session: Session, site: Site, user: User, *, base_url: str | None) -> None:
    mail = compose(site, MailKind.PASSWORD_CHANGED, to=user.email, base_url=base_url)
    # Each change is its own event (a user may change twice in a minute).
    key = f"password-changed:{user.id}:{uuid.uuid4().hex}"
    queue_mail(session, mail, site_id=site.id, event_key=key, user_id=user.id, now=utcnow())
