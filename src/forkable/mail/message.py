"""The RFC 5322 message of one outbox row, as every transport sends or writes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from forkable.sites import Site


@dataclass(frozen=True)
class Outgoing:
    """One mail ready to go: the message and its envelope."""

    outbox_id: str
    sender: str  # the envelope sender, the From address
    to: str
    subject: str
    text: str  # the plain-text body, for logs of the links it holds
    message: EmailMessage
    at: datetime


def sender_address(site: Site, mail_from: str | None) -> str:
    """`FORKABLE_MAIL_FROM`, else `no-reply@` the site's domain."""
    return mail_from or f"no-reply@{site.manifest.site.domain}"


def build_message(
    site: Site,
    *,
    outbox_id: str,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    mail_from: str | None,
    at: datetime,
) -> Outgoing:
    """From the site's name at ``mail_from``; the Message-ID is the outbox row's, so a
    receiver sees a mail sent again after a crash as the same mail."""
    sender = sender_address(site, mail_from)
    local, _, domain = sender.rpartition("@")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = Address(display_name=site.manifest.site.name, username=local, domain=domain)
    message["To"] = to
    message["Date"] = format_datetime(at)
    message["Message-ID"] = f"<{outbox_id}@{site.manifest.site.domain}>"
    # RFC 3834: no vacation replies to a machine's mail.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Forkable-Mail"] = kind
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return Outgoing(
        outbox_id=outbox_id,
        sender=sender,
        to=to,
        subject=subject,
        text=text,
        message=message,
        at=at,
    )
