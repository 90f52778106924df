"""The mail delivery of a process, built from its settings."""

from __future__ import annotations

from forkable.db import Database
from forkable.mail.delivery import MailDelivery
from forkable.mail.smtp import parse_smtp_url
from forkable.mail.transports import FileTransport, SmtpTransport, Transport
from forkable.settings import Settings
from forkable.sites import SiteRegistry


def mail_transport(settings: Settings) -> Transport:
    """SMTP when `FORKABLE_SMTP_URL` is set, else `.eml` files in `$FORKABLE_DATA_DIR/mail/`
    (production refuses to start without SMTP: see the production guard)."""
    if settings.smtp_url:
        return SmtpTransport(parse_smtp_url(settings.smtp_url, variable="FORKABLE_SMTP_URL"))
    return FileTransport(settings.data_dir / "mail")


def mail_delivery(settings: Settings, database: Database, sites: SiteRegistry) -> MailDelivery:
    return MailDelivery(
        database=database,
        sites=sites,
        transport=mail_transport(settings),
        mail_from=settings.mail_from,
    )
