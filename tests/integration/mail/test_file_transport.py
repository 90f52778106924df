"""Development without SMTP: each mail is an `.eml` file, and its links are logged."""

from __future__ import annotations

import email
import logging
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from tests.integration.mail.conftest import Clock, Queue, outbox

from forkable.db import Database
from forkable.mail.compose import MailKind
from forkable.mail.delivery import DeliveryReport, MailDelivery
from forkable.mail.transports import FileTransport
from forkable.sites import SiteRegistry


def test_each_mail_becomes_a_parseable_eml_file_and_its_link_is_logged(
    database: Database,
    registry: SiteRegistry,
    queue: Queue,
    clock: Clock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "var" / "mail"
    mail_id = queue(MailKind.PASSWORD_RESET, to="ann@example.com")
    delivery = MailDelivery(
        database=database, sites=registry, transport=FileTransport(folder), clock=clock
    )
    with caplog.at_level(logging.INFO, logger="forkable.mail"):
        assert delivery.deliver_due() == DeliveryReport(sent=1)

    files = list(folder.iterdir())
    assert [path.name for path in files] == [f"{clock().strftime('%Y%m%dT%H%M%S')}-{mail_id}.eml"]
    message = email.message_from_bytes(files[0].read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Reset your ColoringBook AI password"
    assert message["Message-ID"] == f"<{mail_id}@coloringbook.example.com>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "https://coloringbook.example.com/reset?token=r-456" in text.get_content()
    assert 'href="https://coloringbook.example.com/reset?token=r-456"' in html.get_content()

    logged = [r.getMessage() for r in caplog.records if "ann@example.com" in r.getMessage()]
    assert len(logged) == 1
    assert "Reset your ColoringBook AI password" in logged[0]
    assert "https://coloringbook.example.com/reset?token=r-456" in logged[0]

    row = outbox(database)[mail_id]
    assert row.sent_at == clock()
    assert (row.body_text, row.body_html) == (None, None)
    assert delivery.deliver_due() == DeliveryReport()  # sent once
    assert len(list(folder.iterdir())) == 1
