"""SMTP: `smtp://user:pass@host:587` (STARTTLS), `smtps://` (TLS), or a local relay.

Shared by mail to users (`FORKABLE_SMTP_URL`) and alert e-mail (`FORKABLE_ALERT_SMTP_URL`).

Credentials only ever travel encrypted: with a user name or password on `smtp://`, the server
must offer STARTTLS (its certificate is verified) or nothing is sent. `smtps://` speaks TLS from
the first byte. `smtp://host:port` without credentials is a local relay, spoken to in the clear
unless `?starttls=1` asks for STARTTLS.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
URL_FORMS = (
    "smtp://user:pass@host:587 (STARTTLS), smtps://user:pass@host:465 (TLS), "
    "or smtp://host:25 for a local relay without credentials"
)


class SmtpUrlError(ValueError):
    """The URL is not one of `URL_FORMS`; the message names the variable it came from."""


class SmtpSendError(Exception):
    """A message did not go out. ``temporary``: worth trying again later (the connection
    broke, the server said 4xx). ``refused``: the server refused this message or its recipient
    for good (5xx after MAIL FROM), as opposed to a setup problem every message would meet."""

    def __init__(self, message: str, *, temporary: bool, refused: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.refused = refused


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


def parse_smtp_url(url: str, *, variable: str = "FORKABLE_SMTP_URL") -> SmtpServer:
    """One of `URL_FORMS`; credentials on `smtp://` always mean STARTTLS. Errors name
    ``variable``, the setting the URL came from."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SmtpUrlError(f"{variable} must look like {URL_FORMS}")
    tls = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if tls else 25)
    except ValueError:
        raise SmtpUrlError(f"{variable} has an invalid port") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    asked = parse_qs(parts.query).get("starttls", [""])[-1].lower()
    if (username or password) and asked in _FALSE and not tls:
        raise SmtpUrlError(
            f"{variable}: starttls=0 would send the SMTP password in clear; "
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


def send_message(
    server: SmtpServer,
    message: EmailMessage,
    *,
    sender: str,
    recipients: Sequence[str],
    timeout: float = 10.0,
) -> None:
    """Send ``message`` once over a fresh connection; SmtpSendError says why not."""
    try:
        _send(server, message, sender=sender, recipients=recipients, timeout=timeout)
    except SmtpSendError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpSendError(
            f"{server}: {_describe(exc)}", temporary=_temporary(exc), refused=_refused(exc)
        ) from None


def _send(
    server: SmtpServer,
    message: EmailMessage,
    *,
    sender: str,
    recipients: Sequence[str],
    timeout: float,
) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP = (
        smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
        if server.tls
        else smtplib.SMTP(server.host, server.port, timeout=timeout)
    )
    with smtp:
        if server.starttls:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                what = "the SMTP password in clear" if server.has_credentials else "in clear"
                raise SmtpSendError(
                    f"{server}: the server does not offer STARTTLS; refusing to send {what} "
                    "(use smtps:// if it speaks TLS from the start)",
                    temporary=False,
                )
            smtp.starttls(context=context)
        if server.has_credentials:
            smtp.login(server.username or "", server.password or "")
        smtp.send_message(message, from_addr=sender, to_addrs=list(recipients))


def _temporary(exc: Exception) -> bool:
    """Worth one more try: the connection broke, or the server said 4xx (try later)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # SMTPException is an OSError too: only network errors proper are worth repeating.
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _refused(exc: Exception) -> bool:
    """The server refused this message's recipient or content for good (5xx). A refused
    sender or login is a setup problem instead: every message would meet it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return not _temporary(exc)
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        detail = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"SMTP {exc.smtp_code} {detail}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refusals = []
        for address, (code, reply) in exc.recipients.items():
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            refusals.append(f"{address} (SMTP {code} {text})")
        return "every recipient was refused: " + ", ".join(refusals)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"
