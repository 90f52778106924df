"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import email
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message


class KeepMail:
    """An aiosmtpd handler: accept every message and keep it."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class AuthAttempt:
    login: str
    password: str
    over_tls: bool


class KeepLogins:
    """An aiosmtpd authenticator that accepts one login and records every attempt."""

    def __init__(self, login: str, password: str) -> None:
        self.login = login
        self.password = password
        self.attempts: list[AuthAttempt] = []
        self._lock = threading.Lock()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        attempt = AuthAttempt(auth_data.login.decode(), auth_data.password.decode(), over_tls)
        with self._lock:
            self.attempts.append(attempt)
        ok = (attempt.login, attempt.password) == (self.login, self.password)
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server(
    *, logins: KeepLogins | None = None, starttls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, KeepMail]]:
    """``(smtp://127.0.0.1:PORT, handler)`` while the server runs.

    With ``logins`` it offers AUTH, over STARTTLS when ``starttls`` is given, else (as a badly
    configured server would) in the clear.
    """
    handler = KeepMail()
    port = free_port()
    options: dict[str, Any] = {}
    if logins is not None:
        options.update(authenticator=logins, auth_require_tls=starttls is not None)
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", handler
    finally:
        controller.stop()


@contextmanager
def smtp_tls_server(
    context: ssl.SSLContext, *, logins: KeepLogins | None = None
) -> Iterator[tuple[str, KeepMail]]:
    """``(smtps://127.0.0.1:PORT, handler)``: TLS from the first byte."""
    handler = KeepMail()
    port = free_port()
    options: dict[str, Any] = {}
    if logins is not None:
        # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS from the start.
        options.update(authenticator=logins, auth_require_tls=False)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        ssl_context=context,
        server_hostname="127.0.0.1",
        **options,
    )
    controller.start()
    try:
        yield f"smtps://127.0.0.1:{port}", handler
    finally:
        controller.stop()
