"""E-mail over SMTP: `smtp://user:pass@host:587` (STARTTLS), `smtps://` (TLS), or a local relay.

Credentials only ever travel encrypted: with a user name or password on `smtp://`, the server
must offer STARTTLS (its certificate is verified) or nothing is sent. `smtps://` speaks TLS from
the first byte. `smtp://host:port` without credentials is a local relay, spoken to in the clear
unless `?starttls=1` asks for STARTTLS.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from forkable.monitoring.alerts.channels.base import Alert, ChannelError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
URL_FORMS = (
    "smtp://user:pass@host:587 (STARTTLS), smtps://user:pass@host:465 (TLS), "
    "or smtp://host:25 for a local relay without credentials"
)


class StartTlsUnavailable(ChannelError):
    """The server does not offer STARTTLS, so the credentials were not sent."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool  # TLS from the first byte (smtps://)
    starttls: bool  # upgrade with STARTTLS before anything else; refuse to go on without it

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpServer:
    """One of `URL_FORMS`; credentials on `smtp://` always mean STARTTLS."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ChannelError(f"FORKABLE_ALERT_SMTP_URL must look like {URL_FORMS}")
    tls = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if tls else 25)
    except ValueError:
        raise ChannelError("FORKABLE_ALERT_SMTP_URL has an invalid port") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    asked = parse_qs(parts.query).get("starttls", [""])[-1].lower()
    if (username or password) and asked in _FALSE and not tls:
        raise ChannelError(
            "FORKABLE_ALERT_SMTP_URL: starttls=0 would send the SMTP password in clear; "
            "credentials go only over STARTTLS or smtps://"
        )
    return SmtpServer(
        host=parts.hostname,
        port=port,
        username=username,
        password=password,
        tls=tls,
        starttls=not tls and (bool(username or password) or asked in _TRUE),
    )


def _temporary(exc: Exception) -> bool:
    """Worth one more try: the connection broke, or the server said 4xx (try later)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # SMTPException is an OSError too: only network errors proper are worth repeating.
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


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
                self._send(message)
                return
            except (smtplib.SMTPException, OSError) as exc:
                if attempt == 2 or not _temporary(exc):
                    raise ChannelError(f"{self.server}: {_describe(exc)}") from None
            time.sleep(self.retry_delay)

    def _send(self, message: EmailMessage) -> None:
        server = self.server
        context = ssl.create_default_context()
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=context)
            if server.tls
            else smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        )
        with smtp:
            if server.starttls:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    what = "the SMTP password in clear" if server.has_credentials else "in clear"
                    raise StartTlsUnavailable(
                        f"{server}: the server does not offer STARTTLS; refusing to send {what} "
                        "(use smtps:// if it speaks TLS from the start)"
                    )
                smtp.starttls(context=context)
            if server.has_credentials:
                smtp.login(server.username or "", server.password or "")
            smtp.send_message(message, from_addr=self.sender, to_addrs=list(self.recipients))


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        detail = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"SMTP {exc.smtp_code} {detail}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "every recipient was refused: " + ", ".join(exc.recipients)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"
