"""Queueing: one event, one mail, however often the event is replayed, even at the same time."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select
from tests.integration.mail.conftest import outbox

from forkable.db import Database
from forkable.mail.compose import Mail, MailKind, compose, site_url
from forkable.mail.models import OutboxMail
from forkable.mail.outbox import queue_mail
from forkable.sites import SiteRegistry


def _reset_mail(registry: SiteRegistry, site_id: str = "coloringbook") -> Mail:
    site = registry.get(site_id)
    assert site is not None
    return compose(
        site, MailKind.PASSWORD_RESET, to="ann@example.com", link=site_url(site, "/reset?t=1")
    )


def test_an_event_queues_its_mail_once(database: Database, registry: SiteRegistry) -> None:
    mail = _reset_mail(registry)
    for expected in (True, False, False):
        with database.transaction() as session:
            assert (
                queue_mail(session, mail, site_id="coloringbook", event_key="reset:1") is expected
            )
    # The same event key on another site is another event.
    other = _reset_mail(registry, "pencilsketch")
    with database.transaction() as session:
        assert queue_mail(session, other, site_id="pencilsketch", event_key="reset:1")
    rows = outbox(database).values()
    assert sorted(row.site_id for row in rows) == ["coloringbook", "pencilsketch"]
    row = next(row for row in rows if row.site_id == "coloringbook")
    assert (row.kind, row.to_address, row.attempts) == ("password_reset", "ann@example.com", 0)
    assert row.body_text == mail.text and row.body_html == mail.html
    assert row.next_attempt_at == row.created_at  # due at once


def test_a_mail_queued_in_a_rolled_back_transaction_never_exists(
    database: Database, registry: SiteRegistry
) -> None:
    with pytest.raises(RuntimeError), database.transaction() as session:
        queue_mail(session, _reset_mail(registry), site_id="coloringbook", event_key="reset:2")
        raise RuntimeError("the event failed")
    assert outbox(database) == {}


def test_two_transactions_queueing_one_event_at_once_leave_one_row(
    database: Database, registry: SiteRegistry
) -> None:
    if database.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has one writer")
    mail = _reset_mail(registry)
    first_queued = threading.Event()
    results: dict[str, bool] = {}

    def second() -> None:
        first_queued.wait(5)
        with database.transaction() as session:
            # Waits on the unique index until the first commits, then finds it taken.
            results["second"] = queue_mail(
                session, mail, site_id="coloringbook", event_key="reset:3"
            )

    thread = threading.Thread(target=second)
    thread.start()
    with database.transaction() as session:
        results["first"] = queue_mail(session, mail, site_id="coloringbook", event_key="reset:3")
        first_queued.set()
        time.sleep(0.3)  # the second transaction is now inserting too
    thread.join(10)
    assert results == {"first": True, "second": False}
    with database.session() as session:
        count = session.scalar(select(func.count()).select_from(OutboxMail))
    assert count == 1
