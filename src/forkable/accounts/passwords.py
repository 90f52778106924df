"""Password rules (NIST SP 800-63B style) and argon2id hashing."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from forkable.accounts.hash_slots import HashSlots, PasswordsBusy

__all__ = ["Passwords", "PasswordsBusy", "WeakPassword", "check_password_rules"]

MIN_LENGTH = 8
# Long passphrases are welcome; the cap only bounds the hashing work one request can cause.
MAX_LENGTH = 1024


class WeakPassword(ValueError):
    """The password breaks a rule; the message says which, for people."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of passwords too common to allow, lowercased."""
    text = files("forkable.accounts").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def normalise_password(password: str) -> str:
    """NFKC, so the same passphrase typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


def check_password_rules(password: str, *, email: str | None = None) -> None:
    """Raise WeakPassword when the password is too short, too long or too common."""
    normalised = normalise_password(password)
    if len(normalised) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(normalised) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    lowered = normalised.lower()
    if lowered in common_passwords():
        raise WeakPassword("This password is too common; choose one that is harder to guess.")
    if email and lowered in (email.lower(), email.split("@", 1)[0].lower()):
        raise WeakPassword("Do not use your e-mail address as your password.")


class Passwords:
    """Hashes and verifies with argon2id; never truncates; a few at a time (``slots``).

    `hash` and `verify` raise PasswordsBusy when no hashing slot came free in time.
    """

    def __init__(
        self, hasher: PasswordHasher | None = None, slots: HashSlots | None = None
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        self.slots = slots or HashSlots()
        # Verified against when the e-mail is unknown, so both paths cost the same time.
        self._dummy_hash = self._hasher.hash("forkable-timing-equaliser")

    def hash(self, password: str) -> str:
        normalised = normalise_password(password)
        with self.slots.slot():
            return self._hasher.hash(normalised)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; spends the same time when there is no hash."""
        normalised = normalise_password(password)
        with self.slots.slot():
            try:
                matched = self._hasher.verify(password_hash or self._dummy_hash, normalised)
            except (VerificationError, InvalidHashError):
                return False
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def fast_passwords(slots: HashSlots | None = None) -> Passwords:
    """Cheap parameters for tests only: the same algorithm, far less memory and time."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), slots)
