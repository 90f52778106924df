"""Proving an address: the link mailed at sign-up (and again on request), and the link that
confirms a new address before it replaces the old one.

The site's `[accounts] verify_email` decides what waits for the link:

- `bonus` (the default): the sign-up bonus is granted when the address is verified;
- `required`: the bonus too, and no images are made until then (`generations.intake`);
- `off`: nothing waits; the bonus comes with the account and no link is mailed.

The bonus is booked under the ledger ref `signup:{user id}` whenever it is granted, so it is
granted once even when two links (a mail and its resend) are used at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forkable.accounts.links import BadLink, consume_link, issue_link
from forkable.accounts.models import TokenPurpose, User
from forkable.accounts.passwords import Passwords
from forkable.accounts.service import EmailTaken, create_user, signup_ref
from forkable.accounts.tokens import token_hash
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.ledger.book import credit
from forkable.ledger.models import EntryKind, LedgerEntry
from forkable.mail.compose import MailKind, compose, site_url
from forkable.mail.outbox import queue_mail
from forkable.sites import Site

VERIFY_PATH = "/verify-email"


def mode(site: Site) -> str:
    return site.manifest.accounts.verify_email


def bonus_waits(site: Site) -> bool:
    """Whether a new account's bonus waits for its address to be verified."""
    return mode(site) != "off"


@dataclass(frozen=True)
class SignUp:
    user: User
    link: str | None  # the verification link mailed, None when the site verifies nothing


def verify_link(site: Site, token: str, *, base_url: str | None) -> str:
    return site_url(site, f"{VERIFY_PATH}?token={token}", base_url=base_url)


def queue_verification(
    session: Session, site: Site, user: User, *, base_url: str | None, now: datetime | None = None
) -> str:
    """Issue a verification link for ``user``'s address and queue its mail; the link."""
    token = issue_link(
        session,
        site_id=site.id,
        user_id=user.id,
        purpose=TokenPurpose.VERIFY_EMAIL,
        email=user.email,
        now=now,
    )
    link = verify_link(site, token, base_url=base_url)
    mail = compose(site, MailKind.VERIFY_EMAIL, to=user.email, link=link, base_url=base_url)
    # One mail per link: the key names the link (by a piece of its hash), not the user.
    queue_mail(
        session, mail, site_id=site.id, event_key=f"verify:{token_key(token)}", user_id=user.id
    )
    return link


def token_key(token: str) -> str:
    """A short, non-secret name for a token in event keys (a prefix of its hash)."""
    return token_hash(token)[:32]


def sign_up(
    database: Database,
    passwords: Passwords,
    site: Site,
    *,
    email: str,
    password: str,
    base_url: str | None,
) -> SignUp:
    """A visitor's own account: verified later through the mailed link, unless the site is
    `off`, where the account is as it always was (bonus now, no mail)."""
    links: list[str] = []

    def mail_the_link(session: Session, user: User) -> None:
        links.append(queue_verification(session, site, user, base_url=base_url))

    waits = bonus_waits(site)
    user = create_user(
        database,
        passwords,
        site_id=site.id,
        email=email,
        password=password,
        signup_bonus=0 if waits else site.manifest.pricing.signup_bonus,
        verified=False,
        then=mail_the_link if waits else None,
    )
    return SignUp(user=user, link=links[0] if links else None)


@dataclass(frozen=True)
class Verified:
    user_id: int
    purpose: TokenPurpose
    email: str  # the address now proven (for a change: the new one)
    bonus_granted: int  # tokens granted by this verification (0 when none were waiting)
    old_email: str | None = None  # a change: the address it replaced


def verify(
    database: Database,
    site: Site,
    token: str,
    *,
    base_url: str | None = None,
    now: datetime | None = None,
) -> Verified:
    """Use a verification or address-change link: the address is proven (and, for a change,
    becomes the account's). BadLink when the link is not usable; EmailTaken when another
    account took the new address meanwhile. Either way nothing changes."""
    at = now or utcnow()
    purposes = (TokenPurpose.VERIFY_EMAIL, TokenPurpose.CHANGE_EMAIL)
    try:
        with database.transaction() as session:
            used = consume_link(session, site_id=site.id, token=token, purposes=purposes, now=at)
            user = session.get(User, used.user_id)
            if user is None or user.deleted_at is not None or user.disabled_at is not None:
                raise BadLink
            old_email: str | None = None
            if used.purpose is TokenPurpose.VERIFY_EMAIL:
                if user.email != used.email:
                    raise BadLink  # mailed to an address the account no longer has
            else:
                old_email = user.email
                session.execute(update(User).where(User.id == user.id).values(email=used.email))
                session.flush()  # the unique (site, email) index refuses a taken address here
                changed = compose(
                    site,
                    MailKind.EMAIL_CHANGED,
                    to=old_email,
                    facts={"new_email": used.email},
                    base_url=base_url,
                )
                queue_mail(
                    session,
                    changed,
                    site_id=site.id,
                    event_key=f"email-changed:{used.token_hash[:32]}",
                    user_id=user.id,
                )
            granted = _mark_verified(session, site, user, at)
    except IntegrityError as exc:
        raise EmailTaken(used.email) from exc
    return Verified(user.id, used.purpose, used.email, granted, old_email)


def _mark_verified(session: Session, site: Site, user: User, at: datetime) -> int:
    """Set the verification time and, the first time only, grant a waiting bonus; the tokens
    granted. Accounts verified from the start (made by the operator) have no bonus waiting."""
    first = session.execute(
        update(User)
        .where(User.id == user.id, User.email_verified_at.is_(None))
        .values(email_verified_at=at)
    )
    bonus = site.manifest.pricing.signup_bonus
    if first.rowcount != 1 or bonus <= 0:  # type: ignore[attr-defined]
        return 0
    # Booked under the one sign-up ref: a second verification (or one racing this) books nothing.
    booked = credit(
        session,
        site_id=site.id,
        user_id=user.id,
        amount=bonus,
        kind=EntryKind.SIGNUP_BONUS,
        ref=signup_ref(user.id),
    )
    return bonus if booked is not None else 0


@dataclass(frozen=True)
class Standing:
    """What waits for the address to be verified, for the app page."""

    verified: bool
    waiting_bonus: int  # tokens granted on verification (0: none waiting)
    images_wait: bool  # `required`: no images until verified


def standing(database: Database, site: Site, user_id: int) -> Standing:
    with database.session() as session:
        verified_at = session.scalar(select(User.email_verified_at).where(User.id == user_id))
        bonus_booked = session.scalar(
            select(LedgerEntry.id).where(
                LedgerEntry.site_id == site.id, LedgerEntry.ref == signup_ref(user_id)
            )
        )
    verified = verified_at is not None
    bonus = site.manifest.pricing.signup_bonus
    waiting = 0 if verified or bonus_booked is not None or not bonus_waits(site) else bonus
    return Standing(verified, waiting, not verified and mode(site) == "required")


def is_verified(database: Database, user_id: int) -> bool:
    with database.session() as session:
        verified_at = session.scalar(select(User.email_verified_at).where(User.id == user_id))
    return verified_at is not None


def resend(database: Database, site: Site, user_id: int, *, base_url: str | None) -> str | None:
    """Mail a new verification link (the old ones keep working until they expire); the link,
    or None when the address is verified already and there is nothing to send."""
    with database.transaction() as session:
        user = session.get(User, user_id)
        if user is None or user.email_verified_at is not None:
            return None
        return queue_verification(session, site, user, base_url=base_url)
