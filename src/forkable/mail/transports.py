"""Where a mail goes: an SMTP server, or (development) a folder of `.eml` files."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Protocol

from forkable.mail.message import Outgoing
from forkable.mail.smtp import SmtpSendError, SmtpServer, send_message

logger = logging.getLogger(__name__)

_LINK = re.compile(r"https?://[^\s<>\"')\]]+")


class SendFailed(Exception):
    """A mail did not go out. ``refused``: never try it again (the server refused the
    recipient or the message for good); otherwise it is tried again later."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class Transport(Protocol):
    def send(self, mail: Outgoing) -> None:
        """Hand ``mail`` over, or raise SendFailed."""


class SmtpTransport:
    """One connection per mail to `FORKABLE_SMTP_URL`'s server."""

    def __init__(self, server: SmtpServer, *, timeout: float = 10.0) -> None:
        self.server = server
        self.timeout = timeout

    def send(self, mail: Outgoing) -> None:
        try:
            send_message(
                self.server,
                mail.message,
                sender=mail.sender,
                recipients=[mail.to],
                timeout=self.timeout,
            )
        except SmtpSendError as exc:
            raise SendFailed(str(exc), refused=exc.refused) from None

    def __str__(self) -> str:
        return f"SMTP {self.server}"


def links_in(text: str) -> list[str]:
    return list(dict.fromkeys(_LINK.findall(text)))


class FileTransport:
    """Development without SMTP: each mail becomes `{folder}/{UTC time}-{outbox id}.eml`, and
    one log line names its subject, recipient and links (click them from the console)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, mail: Outgoing) -> None:
        name = f"{mail.at.strftime('%Y%m%dT%H%M%S')}-{mail.outbox_id}.eml"
        path = self.folder / name
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".eml.partial")
            partial.write_bytes(bytes(mail.message))
            os.replace(partial, path)  # whole or not at all
        except OSError as exc:
            raise SendFailed(f"{path}: {exc}") from None
        links = links_in(mail.text)
        logger.info(
            "mail to %s: %s%s (%s)",
            mail.to,
            mail.subject,
            f"; links: {' '.join(links)}" if links else "",
            path,
        )

    def __str__(self) -> str:
        return f"files in {self.folder}"
