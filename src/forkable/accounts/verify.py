"""The accounts' part of `ledger verify`: every user has a token account."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from forkable.accounts.models import User
from forkable.ledger.models import TokenAccount
from forkable.ledger.verify import Violation


def users_without_account(session: Session, site_id: str | None = None) -> Iterator[Violation]:
    """A violation for each user (of one site or all) who has no token account."""
    users = select(User.id, User.site_id).where(
        ~select(TokenAccount.user_id).where(TokenAccount.user_id == User.id).exists()
    )
    if site_id is not None:
        users = users.where(User.site_id == site_id)
    for user_id, user_site in session.execute(users.order_by(User.id)):
        yield Violation(user_site, user_id, "user has no token account")
