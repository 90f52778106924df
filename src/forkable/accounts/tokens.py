"""Random opaque tokens and their stored hashes (sessions, API keys, CSRF)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY_PREFIX = "fk_"


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database stores instead of the token. Unsalted SHA-256 is enough: the token
    has 256 random bits, so there is nothing to guess by dictionary."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
