"""`forkable users create` and `forkable tokens grant`."""

from __future__ import annotations

import secrets
import sys
import uuid

import typer
from sqlalchemy import select

from forkable.accounts.emails import InvalidEmail, normalise_email
from forkable.accounts.models import User
from forkable.accounts.passwords import Passwords, WeakPassword
from forkable.accounts.service import EmailTaken, create_user
from forkable.cli.context import open_database, resolve_site
from forkable.cli.output import fail
from forkable.ledger.book import InsufficientTokens, credit, debit, get_balance
from forkable.ledger.models import EntryKind


def run_create_user(email: str, site_id: str | None, admin: bool, password_stdin: bool) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password = secrets.token_urlsafe(18)
        generated = True
    with open_database() as database:
        site = resolve_site(database, site_id)
        try:
            user = create_user(
                database,
                Passwords(),
                site_id=site,
                email=email,
                password=password,
                signup_bonus=0,
                is_admin=admin,
            )
        except InvalidEmail as exc:
            fail(str(exc))
        except WeakPassword as exc:
            fail(f"weak password: {exc}")
        except EmailTaken:
            fail(f"{email} already has an account on {site}")
    role = "admin" if admin else "user"
    typer.echo(f"created {role} {user.email} (id {user.id}) on {site}")
    if generated:
        typer.echo(f"password: {password}")


def run_grant(email: str, amount: int, reason: str, site_id: str | None) -> None:
    if amount == 0:
        fail("AMOUNT must not be 0")
    if not reason.strip():
        fail("--reason must say why")
    with open_database() as database:
        site = resolve_site(database, site_id)
        try:
            address = normalise_email(email)
        except InvalidEmail as exc:
            fail(str(exc))
        with database.transaction() as session:
            user = session.scalar(select(User).where(User.site_id == site, User.email == address))
            if user is None:
                fail(f"no user {address} on {site}")
            ref = f"grant:{uuid.uuid4()}"
            try:
                if amount > 0:
                    credit(
                        session,
                        site_id=site,
                        user_id=user.id,
                        amount=amount,
                        kind=EntryKind.ADMIN_GRANT,
                        ref=ref,
                        reason=reason,
                        actor="cli",
                    )
                else:
                    debit(
                        session,
                        site_id=site,
                        user_id=user.id,
                        amount=-amount,
                        kind=EntryKind.ADMIN_GRANT,
                        ref=ref,
                        reason=reason,
                        actor="cli",
                    )
            except InsufficientTokens as exc:
                fail(f"cannot revoke {-amount}: only {exc.available} available")
            balance = get_balance(session, user.id)
    verb = "granted" if amount > 0 else "revoked"
    typer.echo(
        f"{verb} {abs(amount)} tokens {'to' if amount > 0 else 'from'} {address} on {site}; "
        f"available now {balance.available}"
    )
