"""E-mail addresses: one normal form, so one person cannot sign up twice by case."""

from __future__ import annotations

import re
import unicodedata

_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
MAX_LENGTH = 254


class InvalidEmail(ValueError):
    """Not an e-mail address we can accept; the message is for people."""


def normalise_email(raw: str) -> str:
    """Trim, NFKC and lowercase (providers treat the local part case-insensitively)."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > MAX_LENGTH or not _SHAPE.match(email) or ".." in email:
        raise InvalidEmail("Enter a valid e-mail address, like name@example.com.")
    return email


def mask_email(email: str) -> str:
    """``alice@example.com`` -> ``a***@example.com``, for logs and admin lists."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
