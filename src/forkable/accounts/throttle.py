"""How often sign-up and login may be tried, per account and per address."""

from __future__ import annotations

from forkable.ratelimit import RateLimiter, per_seconds

# Failed logins: enough for a person who mistypes, far too few for guessing.
LOGIN_FAILURES_PER_ACCOUNT = per_seconds("login-account", 5, 15 * 60)
LOGIN_FAILURES_PER_IP = per_seconds("login-ip", 20, 15 * 60)
# Sign-ups grant free tokens, so one address may only open a few accounts an hour.
SIGNUPS_PER_IP = per_seconds("signup-ip", 10, 60 * 60)


def login_retry_after(limiter: RateLimiter, *, site_id: str, email: str, ip: str) -> int | None:
    """Seconds to wait before another login attempt, or None."""
    waits = [
        limiter.retry_after(LOGIN_FAILURES_PER_ACCOUNT, f"{site_id}:{email}"),
        limiter.retry_after(LOGIN_FAILURES_PER_IP, ip),
    ]
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else None


def record_login_failure(limiter: RateLimiter, *, site_id: str, email: str, ip: str) -> None:
    limiter.hit(LOGIN_FAILURES_PER_ACCOUNT, f"{site_id}:{email}")
    limiter.hit(LOGIN_FAILURES_PER_IP, ip)


def clear_login_failures(limiter: RateLimiter, *, site_id: str, email: str) -> None:
    limiter.clear(LOGIN_FAILURES_PER_ACCOUNT, f"{site_id}:{email}")
