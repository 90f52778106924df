"""`forkable users create` and `forkable tokens grant`."""

from __future__ import annotations

import secrets
import sys

import typer
from sqlalchemy import select

from forkable.accounts.emails import InvalidEmail, normalise_email
from forkable.accounts.models import User
from forkable.accounts.passwords import Passwords, WeakPassword
from forkable.accounts.service import EmailTaken, create_user
from forkable.admin.service import Actor, AdminError, grant_tokens, revoke_tokens
from forkable.cli.context import open_database, resolve_site
from forkable.cli.output import fail


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
    """Grant or revoke through the admin service: one ledger entry and one audit row."""
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
        with database.session() as session:
            user_id = session.scalar(
                select(User.id).where(User.site_id == site, User.email == address)
            )
        if user_id is None:
            fail(f"no user {address} on {site}")
        actor = Actor(user_id=None, email="cli", site_id=site)
        try:
            if amount > 0:
                change = grant_tokens(database, actor, user_id, amount, reason)
            else:
                change = revoke_tokens(database, actor, user_id, -amount, reason)
        except AdminError as exc:
            fail(str(exc))
    verb = "granted" if amount > 0 else "revoked"
    typer.echo(
        f"{verb} {abs(amount)} tokens {'to' if amount > 0 else 'from'} {address} on {site}; "
        f"available now {change.balance.available}"
    )
