"""The outbox through a real SMTP server on loopback: every kind once, branded per site; SMTP
down and back; refusals; two deliverers at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

import pytest
from sqlalchemy import update
from tests.integration.mail.conftest import (
    Clock,
    Mailbox,
    Queue,
    mail_server,
    outbox,
    smtp_delivery,
)
from tests.support.smtp import free_port

from forkable.accounts.models import User
from forkable.db import Database
from forkable.mail.compose import MailKind
from forkable.mail.delivery import GIVE_UP_AFTER, DeliveryReport
from forkable.sites import SiteRegistry


def _parts(message: Message) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return found


def test_every_kind_arrives_once_with_its_headers(
    database: Database, registry: SiteRegistry, queue: Queue, clock: Clock
) -> None:
    ids = {kind: queue(kind, to=f"{kind.value}@example.com") for kind in MailKind}
    mailbox = Mailbox()
    with mail_server(mailbox) as url:
        delivery = smtp_delivery(database, registry, url, clock)
        assert delivery.deliver_due() == DeliveryReport(sent=len(MailKind))
        assert delivery.deliver_due() == DeliveryReport()
    received = mailbox.by_recipient()
    assert sorted(received) == sorted(f"{kind.value}@example.com" for kind in MailKind)
    for kind, mail_id in ids.items():
        [message] = received[f"{kind.value}@example.com"]
        assert parseaddr(message["From"]) == (
            "ColoringBook AI",
            "no-reply@coloringbook.example.com",
        )
        assert message["To"] == f"{kind.value}@example.com"
        assert message["Message-ID"] == f"<{mail_id}@coloringbook.example.com>"
        assert message["X-Forkable-Mail"] == kind.value
        assert message["Auto-Submitted"] == "auto-generated"
        assert parsedate_to_datetime(message["Date"]) == clock()
        assert message.get_content_type() == "multipart/alternative"
        assert set(_parts(message)) == {"text/plain", "text/html"}
    assert [m.mail_from for m in mailbox.received] == ["no-reply@coloringbook.example.com"] * len(
        MailKind
    )
    rows = outbox(database)
    assert all(row.sent_at == clock() for row in rows.values())
    assert all(row.body_text is None and row.body_html is None for row in rows.values())
    assert all(row.attempts == 1 and row.last_error is None for row in rows.values())


def test_two_sites_on_one_server_each_send_in_their_own_brand(
    database: Database, registry: SiteRegistry, queue: Queue, clock: Clock
) -> None:
    coloring = queue(MailKind.VERIFY_EMAIL, to="ann@example.com", site_id="coloringbook")
    sketch = queue(MailKind.VERIFY_EMAIL, to="ann@example.com", site_id="pencilsketch")
    mailbox = Mailbox()
    with mail_server(mailbox) as url:
        smtp_delivery(database, registry, url, clock).deliver_due()
    by_id = {m.message["Message-ID"]: m.message for m in mailbox.received}
    first = by_id[f"<{coloring}@coloringbook.example.com>"]
    second = by_id[f"<{sketch}@sketchme.example.com>"]
    assert parseaddr(first["From"]) == ("ColoringBook AI", "no-reply@coloringbook.example.com")
    assert parseaddr(second["From"]) == ("SketchMe", "no-reply@sketchme.example.com")
    assert first["Subject"] == "Confirm your address for ColoringBook AI"
    assert second["Subject"] == "Confirm your address for SketchMe"
    first_html, second_html = _parts(first)["text/html"], _parts(second)["text/html"]
    assert "#ff6b6b" in first_html and "#c08a3e" not in first_html
    assert "#c08a3e" in second_html and "#ff6b6b" not in second_html
    assert "Example Ltd" in _parts(first)["text/plain"]
    assert "Sketch Studio GmbH" in _parts(second)["text/plain"]
    assert "https://coloringbook.example.com/verify?token=v-123" in _parts(first)["text/plain"]
    assert "https://sketchme.example.com/verify?token=v-123" in _parts(second)["text/plain"]


def test_mail_from_names_the_sender_address_of_every_site(
    database: Database, registry: SiteRegistry, queue: Queue, clock: Clock
) -> None:
    queue(MailKind.PASSWORD_CHANGED, site_id="pencilsketch")
    mailbox = Mailbox()
    with mail_server(mailbox) as url:
        smtp_delivery(
            database, registry, url, clock, mail_from="mail@forks.example.net"
        ).deliver_due()
    [received] = mailbox.received
    assert received.mail_from == "mail@forks.example.net"
    assert parseaddr(received.message["From"]) == ("SketchMe", "mail@forks.example.net")


def test_while_smtp_is_down_mail_waits_and_then_goes_out_once(
    database: Database, registry: SiteRegistry, queue: Queue, clock: Clock
) -> None:
    first = queue(MailKind.PASSWORD_RESET, to="ann@example.com")
    second = queue(MailKind.VERIFY_EMAIL, to="bob@example.com")
    port = free_port()  # nothing listens there yet
    delivery = smtp_delivery(database, registry, f"smtp://127.0.0.1:{port}", clock)
    start = clock()

    assert delivery.deliver_due() == DeliveryReport(retried=2)
    rows = outbox(database)
    for mail_id in (first, second):
        row = rows[mail_id]
        assert (row.attempts, row.sent_at, row.failed_at, row.claimed_until) == (
            1,
            None,
            None,
            None,
        )
        assert row.next_attempt_at == start + _seconds(30)
        assert row.last_error == f"127.0.0.1:{port}: connection refused"
        assert row.body_text is not None  # kept until sent
    assert delivery.deliver_due() == DeliveryReport()  # not due yet: nothing tried

    clock.advance(seconds=30)
    assert delivery.deliver_due() == DeliveryReport(retried=2)
    assert outbox(database)[first].next_attempt_at == clock() + _seconds(60)

    clock.advance(seconds=60)
    mailbox = Mailbox()
    with mail_server(mailbox, port):
        assert delivery.deliver_due() == DeliveryReport(sent=2)
        assert delivery.deliver_due() == DeliveryReport()
        clock.advance(hours=2)
        assert delivery.deliver_due() == DeliveryReport()
    assert sorted(mailbox.by_recipient()) == ["ann@example.com", "bob@example.com"]
    assert len(mailbox.received) == 2
    rows = outbox(database)
    assert [rows[i].attempts for i in (first, second)] == [3, 3]
    assert all(rows[i].last_error is None and rows[i].sent_at for i in (first, second))


def _seconds(count: float) -> timedelta:
    return timedelta(seconds=count)


def test_with_smtp_down_one_batch_is_tried_not_every_due_mail(
    database: Database, registry: SiteRegistry, queue: Queue, clock: Clock
) -> None:
    ids = [queue(MailKind.VERIFY_EMAIL, to=f"user{n}@example.com") for n in range(5)]
    port = free_port()
    delivery = smtp_delivery(database, registry, f"smtp://127.0.0.1:{port}", clock, batch=2)
    assert delivery.deliver_due() == DeliveryReport(retried=2)
    rows = outbox(database)
    assert sorted(rows[i].attempts for i in ids) == [0, 0, 0, 1, 1]
    assert all(rows[i].claimed_until is None for i in ids)
    mailbox = Mailbox()
    with mail_server(mailbox, port):
        assert delivery.deliver_due() == DeliveryReport(sent=3)  # the ones still due
        clock.advance(seconds=30)
        assert delivery.deliver_due() == DeliveryReport(sent=2)
    assert len(mailbox.received) == 5


def test_the_backoff_doubles_up_to_an_hour_and_gives_up_after_three_days(
    database: Database, registry: SiteRegistry, queue: Queue, clock: Clock
) -> None:
    mail_id = queue(MailKind.PASSWORD_RESET)
    delivery = smtp_delivery(database, registry, f"smtp://127.0.0.1:{free_port()}", clock)
    waits = []
    while True:
        report = delivery.deliver_due()
        row = outbox(database)[mail_id]
        if report.failed:
            break
        assert report == DeliveryReport(retried=1)
        waits.append((row.next_attempt_at - clock()).total_seconds())
        clock.at = row.next_attempt_at
    assert waits[:9] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert set(waits[8:]) == {3600}
    assert row.failed_at == clock()
    assert clock() - row.created_at >= GIVE_UP_AFTER
    assert row.last_error is not None and row.last_error.startswith("gave up after 3 days")
    assert row.sent_at is None
    assert delivery.deliver_due() == DeliveryReport()


def test_a_recipient_refused_for_good_fails_at_once_and_others_still_go(
    database: Database, registry: SiteRegistry, queue: Queue, clock: Clock
) -> None:
    refused = queue(MailKind.VERIFY_EMAIL, to="nobody@example.com")
    later = queue(MailKind.VERIFY_EMAIL, to="grey@example.com")
    fine = queue(MailKind.VERIFY_EMAIL, to="ann@example.com")
    mailbox = Mailbox(refuse=("nobody@example.com",), later=("grey@example.com",))
    with mail_server(mailbox) as url:
        report = smtp_delivery(database, registry, url, clock).deliver_due()
    assert report == DeliveryReport(sent=1, retried=1, failed=1)
    rows = outbox(database)
    assert rows[refused].failed_at == clock()
    assert rows[refused].last_error is not None and "550" in rows[refused].last_error
    assert rows[later].failed_at is None and rows[later].attempts == 1
    assert rows[later].last_error is not None and "451" in rows[later].last_error
    assert rows[fine].sent_at == clock()
    assert sorted(mailbox.by_recipient()) == ["ann@example.com"]


def test_an_erased_users_address_is_blanked_once_sent(
    database: Database,
    registry: SiteRegistry,
    queue: Queue,
    clock: Clock,
    make_user: Callable[..., int],
) -> None:
    kept_user = make_user("kept@example.com")
    erased_user = make_user("erased@example.com")
    kept = queue(MailKind.PASSWORD_CHANGED, to="kept@example.com", user_id=kept_user)
    goodbye = queue(MailKind.ACCOUNT_DELETED, to="erased@example.com", user_id=erased_user)
    no_user = queue(MailKind.EMAIL_CHANGE, to="new@example.com")
    with database.transaction() as session:
        session.execute(update(User).where(User.id == erased_user).values(deleted_at=clock()))
    mailbox = Mailbox()
    with mail_server(mailbox) as url:
        assert smtp_delivery(database, registry, url, clock).deliver_due().sent == 3
    assert sorted(mailbox.by_recipient()) == [
        "erased@example.com",
        "kept@example.com",
        "new@example.com",
    ]
    rows = outbox(database)
    assert rows[kept].to_address == "kept@example.com"
    assert rows[goodbye].to_address == ""
    assert rows[no_user].to_address == ""


def test_two_deliverers_at_once_send_each_mail_once(
    database_url: str, registry: SiteRegistry, clock: Clock, queue: Queue, database: Database
) -> None:
    if database.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has one writer")
    ids = [queue(MailKind.PASSWORD_RESET, to=f"user{n}@example.com") for n in range(40)]
    mailbox = SlowMailbox()
    reports: list[DeliveryReport] = []
    with mail_server(mailbox) as url:
        deliverers = [
            smtp_delivery(Database(database_url), registry, url, clock, batch=4) for _ in range(2)
        ]
        start = threading.Barrier(2)

        def run(delivery: object) -> None:
            start.wait()
            reports.append(delivery.deliver_due(max_batches=100))  # type: ignore[attr-defined]

        threads = [threading.Thread(target=run, args=(d,)) for d in deliverers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for delivery in deliverers:
            delivery.database.dispose()
    message_ids = [m.message["Message-ID"] for m in mailbox.received]
    assert len(message_ids) == len(set(message_ids)) == 40
    assert sum(r.sent for r in reports) == 40
    assert all(r.sent for r in reports), reports  # both took part
    assert all(row.sent_at is not None for row in outbox(database).values())
    assert {f"<{i}@coloringbook.example.com>" for i in ids} == set(message_ids)


class SlowMailbox(Mailbox):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.02)  # long enough for the other deliverer to claim meanwhile
        return await super().handle_DATA(server, session, envelope)
