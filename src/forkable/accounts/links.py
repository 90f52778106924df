"""Single-use account links: the token in a mailed link that proves its reader got the mail.

Only the SHA-256 of a token is stored (`AccountToken.token_hash`). A link is used up by one
guarded UPDATE (`used_at IS NULL AND expires_at > now`, on this site, for these purposes), so
two requests racing with the same link succeed once. Tampered, unknown, expired, used and
other sites' tokens are one refusal, `BadLink`: which one it was would only help a guesser.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from forkable.accounts.models import AccountToken, TokenPurpose
from forkable.accounts.tokens import new_token, token_hash
from forkable.db.types import utcnow

LIFETIMES: dict[TokenPurpose, timedelta] = {
    TokenPurpose.VERIFY_EMAIL: timedelta(hours=48),
    TokenPurpose.CHANGE_EMAIL: timedelta(hours=48),
    TokenPurpose.PASSWORD_RESET: timedelta(hours=1),
}
# `new_token()` makes 43 characters; anything much longer is not one of ours (and is not hashed).
MAX_TOKEN_LENGTH = 128
BAD_LINK_MESSAGE = (
    "This link is not valid: it was used already, it expired, or it was copied incompletely. "
    "Ask for a new one."
)


class BadLink(Exception):
    """The token is unknown, altered, expired, used, or another site's: nothing changed."""

    def __init__(self) -> None:
        super().__init__(BAD_LINK_MESSAGE)


@dataclass(frozen=True)
class UsedLink:
    """A link that was just used up: whose it was, for what, and where it was mailed."""

    token_hash: str
    user_id: int
    purpose: TokenPurpose
    email: str


def issue_link(
    session: Session,
    *,
    site_id: str,
    user_id: int,
    purpose: TokenPurpose,
    email: str,
    now: datetime | None = None,
) -> str:
    """A new single-use token (in the caller's transaction); only its hash is stored."""
    at = now or utcnow()
    token = new_token()
    session.add(
        AccountToken(
            token_hash=token_hash(token),
            site_id=site_id,
            user_id=user_id,
            purpose=purpose.value,
            email=email,
            created_at=at,
            expires_at=at + LIFETIMES[purpose],
        )
    )
    session.flush()
    return token


def _hash_of(token: str) -> str:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadLink
    return token_hash(token)


def _valid(
    site_id: str, purposes: Collection[TokenPurpose], now: datetime
) -> tuple[ColumnElement[bool], ...]:
    return (
        AccountToken.site_id == site_id,
        AccountToken.purpose.in_([purpose.value for purpose in purposes]),
        AccountToken.used_at.is_(None),
        AccountToken.expires_at > now,
    )


def peek_link(
    session: Session,
    *,
    site_id: str,
    token: str,
    purposes: Collection[TokenPurpose],
    now: datetime | None = None,
) -> UsedLink:
    """What a still-usable link is for, without using it up; BadLink otherwise."""
    hashed = _hash_of(token)
    row = session.scalar(
        select(AccountToken).where(
            AccountToken.token_hash == hashed, *_valid(site_id, purposes, now or utcnow())
        )
    )
    if row is None:
        raise BadLink
    return UsedLink(hashed, row.user_id, TokenPurpose(row.purpose), row.email)


def consume_link(
    session: Session,
    *,
    site_id: str,
    token: str,
    purposes: Collection[TokenPurpose],
    now: datetime | None = None,
) -> UsedLink:
    """Use the link up, in the caller's transaction: exactly one caller ever gets it.

    BadLink when it is not (or no longer) usable. The caller's transaction rolls back on any
    later refusal, which makes the link usable again: nothing changed.
    """
    hashed = _hash_of(token)
    at = now or utcnow()
    result = session.execute(
        update(AccountToken)
        .where(AccountToken.token_hash == hashed, *_valid(site_id, purposes, at))
        .values(used_at=at)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise BadLink
    row = session.get_one(AccountToken, hashed)  # updated a moment ago, in this transaction
    return UsedLink(hashed, row.user_id, TokenPurpose(row.purpose), row.email)
