"""A migrated database with the example sites, users, and mail queued as the events would."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from tests.support.smtp import KeepMail, free_port

from forkable.accounts.models import User
from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.db.types import utcnow
from forkable.mail.compose import MailKind, compose, site_url
from forkable.mail.delivery import MailDelivery
from forkable.mail.models import OutboxMail
from forkable.mail.outbox import queue_mail
from forkable.mail.smtp import parse_smtp_url
from forkable.mail.transports import SmtpTransport
from forkable.sites import SiteRegistry

# What each kind needs besides its address: a link, or the facts its words name.
LINKS = {
    MailKind.VERIFY_EMAIL: "/verify?token=v-123",
    MailKind.PASSWORD_RESET: "/reset?token=r-456",
    MailKind.EMAIL_CHANGE: "/verify-email-change?token=e-789",
}
FACTS = {
    MailKind.EMAIL_CHANGED: {"new_email": "new@example.com"},
    MailKind.PURCHASE_RECEIPT: {
        "tokens": "50",
        "pack": "Starter",
        "amount": "$4.99",
        "reference": "p-1",
        "date": "6 December 2026",
    },
}


@pytest.fixture
def database(database_url: str, registry: SiteRegistry) -> Iterator[Database]:
    made = Database(database_url)
    upgrade(made)
    sync_sites(made, registry)
    yield made
    made.dispose()


@dataclass
class Clock:
    """A `now` the test moves by hand: backoff without sleeping."""

    at: datetime = field(default_factory=lambda: utcnow().replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


Queue = Callable[..., str]


@pytest.fixture
def queue(database: Database, registry: SiteRegistry, clock: Clock) -> Queue:
    """Queue one mail of ``kind`` as its event would; the outbox row's id."""

    def make(
        kind: MailKind,
        *,
        to: str = "visitor@example.com",
        site_id: str = "coloringbook",
        user_id: int | None = None,
        event_key: str | None = None,
    ) -> str:
        site = registry.get(site_id)
        assert site is not None
        path = LINKS.get(kind)
        mail = compose(
            site,
            kind,
            to=to,
            link=site_url(site, path) if path else None,
            facts=FACTS.get(kind),
        )
        key = event_key or f"test:{secrets.token_hex(6)}"
        with database.transaction() as session:
            assert queue_mail(
                session, mail, site_id=site_id, event_key=key, user_id=user_id, now=clock()
            )
        with database.session() as session:
            row = session.query(OutboxMail).filter_by(site_id=site_id, event_key=key).one()
            return row.id

    return make


@pytest.fixture
def make_user(database: Database) -> Callable[..., int]:
    def make(email: str = "user@example.com", site_id: str = "coloringbook") -> int:
        with database.transaction() as session:
            user = User(site_id=site_id, email=email, password_hash="x")
            session.add(user)
            session.flush()
            return user.id

    return make


def outbox(database: Database) -> dict[str, OutboxMail]:
    with database.session() as session:
        return {row.id: row for row in session.query(OutboxMail)}


class Mailbox(KeepMail):
    """A server's handler that keeps every mail, refuses some recipients for good (550) and
    asks for others to be tried later (451)."""

    def __init__(self, *, refuse: tuple[str, ...] = (), later: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.refuse = refuse
        self.later = later

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        if address in self.later:
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def by_recipient(self) -> dict[str, list[Message]]:
        found: dict[str, list[Message]] = {}
        for received in self.received:
            for address in received.rcpt_tos:
                found.setdefault(address, []).append(received.message)
        return found


@contextmanager
def mail_server(handler: Mailbox, port: int | None = None) -> Iterator[str]:
    """``smtp://127.0.0.1:PORT`` while a real aiosmtpd server answers there with ``handler``."""
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def smtp_delivery(
    database: Database, registry: SiteRegistry, url: str, clock: Clock, **options: Any
) -> MailDelivery:
    transport = SmtpTransport(parse_smtp_url(url), timeout=5.0)
    return MailDelivery(
        database=database, sites=registry, transport=transport, clock=clock, **options
    )
