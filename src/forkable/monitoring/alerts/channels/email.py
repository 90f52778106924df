"""Alert e-mail over SMTP; the URL forms and the sending itself are `forkable.mail.smtp`'s.

Credentials only ever travel encrypted (STARTTLS with a verified certificate, or smtps://);
see `forkable.mail.smtp`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from forkable.mail import smtp
from forkable.mail.smtp import SmtpSendError, SmtpServer, SmtpUrlError
from forkable.monitoring.alerts.channels.base import Alert, ChannelError

__all__ = ["EmailChannel", "parse_smtp_url"]

VARIABLE = "FORKABLE_ALERT_SMTP_URL"


def parse_smtp_url(url: str) -> SmtpServer:
    """The alert SMTP server; a bad URL is a ChannelError naming FORKABLE_ALERT_SMTP_URL."""
    try:
        return smtp.parse_smtp_url(url, variable=VARIABLE)
    except SmtpUrlError as exc:
        raise ChannelError(str(exc)) from None


class EmailChannel:
    name = "email"

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        recipients: Sequence[str],
        timeout: float = 10.0,
        retry_delay: float = 1.0,
    ) -> None:
        self.server = parse_smtp_url(url)
        self.sender = sender
        self.recipients = tuple(recipients)
        self.timeout = timeout
        self.retry_delay = retry_delay

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = alert.title()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["X-Forkable-Alert"] = f"{alert.rule}; {alert.kind}"
        message.set_content(alert.text() + "\n")
        return message

    def send(self, alert: Alert) -> None:
        message = self.message(alert)
        for attempt in (1, 2):
            try:
                smtp.send_message(
                    self.server,
                    message,
                    sender=self.sender,
                    recipients=self.recipients,
                    timeout=self.timeout,
                )
                return
            except SmtpSendError as exc:
                if attempt == 2 or not exc.temporary:
                    raise ChannelError(str(exc)) from None
            time.sleep(self.retry_delay)
