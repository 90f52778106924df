"""Reading the mail a development server wrote as `.eml` files under `$FORKABLE_DATA_DIR/mail/`,
as a new user reads their inbox: for servers in another process and for browser tests."""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx

_LINK = re.compile(r"https?://[^\s<>\"']+")


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def wait_for_link(data_dir: Path, to: str, path: str, *, timeout: float = 30) -> str:
    """The newest link to ``path`` (e.g. `/verify-email`) in a mail to ``to``; the server
    delivers its outbox every few seconds, so wait for it."""
    deadline = time.monotonic() + timeout
    folder = data_dir / "mail"
    while time.monotonic() < deadline:
        for eml in sorted(folder.glob("*.eml"), reverse=True) if folder.is_dir() else []:
            message = message_from_bytes(eml.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            if str(message["To"]).strip().lower() != to.lower():
                continue
            for link in _LINK.findall(_text(message)):
                if link.split("?", 1)[0].endswith(path):
                    return link
        time.sleep(0.2)
    raise TimeoutError(f"no mail to {to} with a {path} link in {folder}")


def link_token(link: str) -> str:
    found = re.search(r"[?&]token=([A-Za-z0-9_-]+)", link)
    assert found, link
    return found.group(1)


def verify_from_mail(client: httpx.Client, data_dir: Path, email: str) -> None:
    """Use the verification link a development server mailed to ``email``."""
    token = link_token(wait_for_link(data_dir, email, "/verify-email"))
    response = client.post("/api/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text


def wait_for_subject(data_dir: Path, to: str, fragment: str, *, timeout: float = 30) -> str:
    """The subject of a mail to ``to`` that contains ``fragment``; wait for its delivery."""
    deadline = time.monotonic() + timeout
    folder = data_dir / "mail"
    while time.monotonic() < deadline:
        for eml in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
            message = message_from_bytes(eml.read_bytes(), policy=policy.default)
            subject = str(message["Subject"])
            if str(message["To"]).strip().lower() == to.lower() and fragment in subject:
                return subject
        time.sleep(0.2)
    raise TimeoutError(f"no mail to {to} about {fragment!r} in {folder}")
