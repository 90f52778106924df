"""How often sign-up and login may be tried, per site: by account and address, by address, by
account.

Every attempt is counted *before* its password is hashed (`RateLimiter.hit` counts and refuses
in one atomic step), so parallel attempts cannot slip past a limit between a check and a count.
An attempt that turns out not to count is given back: a successful login, or one the server was
too busy to check.

Failed logins lock nobody out for everyone (see "Throttles" in docs/operations.md):

- per account and client address: 5 in 15 minutes; the owner, from their own address, is not
  hindered by someone guessing from another one;
- per client address: 20 in 15 minutes, whatever the accounts;
- per account, from every address together: 50 in 15 minutes, to slow guessing spread over
  many addresses. Over it, only addresses the account signed in from during the last 30 days
  are still let through (the owner's usual ones); others wait.

Addresses are counted per site (one site's attackers do not throttle another site's users),
and IPv6 addresses by their /64 network, which one subscriber usually holds whole.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from forkable.ratelimit import Limit, RateLimiter, per_seconds

# Failed logins: enough for a person who mistypes, far too few for guessing.
LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = per_seconds("login-account-address", 5, 15 * 60)
LOGIN_FAILURES_PER_ADDRESS = per_seconds("login-address", 20, 15 * 60)
LOGIN_FAILURES_PER_ACCOUNT = per_seconds("login-account", 50, 15 * 60)
# One event marks an address the account signed in from; it is remembered for the window.
KNOWN_ADDRESS = per_seconds("login-known-address", 1, 30 * 24 * 60 * 60)
# Sign-ups grant free tokens, so one address may only try a few times an hour.
SIGNUPS_PER_ADDRESS = per_seconds("signup-address", 10, 60 * 60)
# Mails a visitor can make us send: a person needs one or two, a flood would be spam from us.
VERIFY_RESENDS_PER_MINUTE = per_seconds("verify-resend-minute", 1, 60)
VERIFY_RESENDS_PER_HOUR = per_seconds("verify-resend-hour", 5, 60 * 60)
RESETS_PER_EMAIL = per_seconds("reset-email", 3, 60 * 60)
RESETS_PER_ADDRESS = per_seconds("reset-address", 20, 60 * 60)
EMAIL_CHANGES_PER_ACCOUNT = per_seconds("email-change-account", 5, 60 * 60)
# Wrong current passwords on the account page: a stolen session must not become a guesser.
PASSWORD_CHECKS_PER_ACCOUNT = per_seconds("password-check-account", 10, 15 * 60)

_IPV6_SUBSCRIBER_PREFIX = 64


class Throttled(Exception):
    """Too many attempts: ``retry_after`` whole seconds until the next one is allowed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def address_key(ip: str) -> str:
    """The client address as throttles count it: IPv6 by its /64, anything else as it is."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]  # not an address (a test client, a Unix socket): counted as one
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, _IPV6_SUBSCRIBER_PREFIX), strict=False)
        return str(network)
    return str(address)


@dataclass(frozen=True)
class Attempt:
    """An attempt that was counted, in each of ``counted`` (limit, key) windows."""

    limiter: RateLimiter
    counted: tuple[tuple[Limit, str], ...]

    def give_back(self) -> None:
        """Uncount the attempt everywhere: it was never checked (the server was busy)."""
        for limit, key in self.counted:
            self.limiter.give_back(limit, key)


@dataclass(frozen=True)
class LoginAttempt(Attempt):
    """A login attempt counted before its password is checked."""

    account_address: str  # the (site, account, address) key

    def succeeded(self) -> None:
        """Forget this address's failures on this account, uncount the attempt elsewhere and
        remember the address as one the account signs in from."""
        for limit, key in self.counted:
            if limit == LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS:
                self.limiter.clear(limit, key)
            else:
                self.limiter.give_back(limit, key)
        # Restart the 30 days: a moving window of one keeps the first event otherwise.
        self.limiter.clear(KNOWN_ADDRESS, self.account_address)
        self.limiter.hit(KNOWN_ADDRESS, self.account_address)


def admit_login(limiter: RateLimiter, *, site_id: str, email: str, ip: str) -> LoginAttempt:
    """Count one login attempt before its password is checked; Throttled when over a limit."""
    address = address_key(ip)
    account = f"{site_id}:{email}"
    account_address = f"{account}:{address}"
    windows: list[tuple[Limit, str]] = [
        (LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS, account_address),
        (LOGIN_FAILURES_PER_ADDRESS, f"{site_id}:{address}"),
    ]
    # The owner's usual addresses are not held back by guessing spread over many others.
    if limiter.retry_after(KNOWN_ADDRESS, account_address) is None:
        windows.append((LOGIN_FAILURES_PER_ACCOUNT, account))
    counted = _count(limiter, windows)
    return LoginAttempt(limiter, counted, account_address)


def admit_signup(limiter: RateLimiter, *, site_id: str, ip: str) -> Attempt:
    """Count one sign-up attempt before anything is hashed; Throttled when over the limit."""
    key = f"{site_id}:{address_key(ip)}"
    return Attempt(limiter, _count(limiter, [(SIGNUPS_PER_ADDRESS, key)]))


def admit_verify_resend(limiter: RateLimiter, *, site_id: str, user_id: int) -> Attempt:
    """Count one "send the link again"; Throttled when the user asked too often."""
    key = f"{site_id}:{user_id}"
    windows = [(VERIFY_RESENDS_PER_MINUTE, key), (VERIFY_RESENDS_PER_HOUR, key)]
    return Attempt(limiter, _count(limiter, windows))


def admit_password_reset(limiter: RateLimiter, *, site_id: str, email: str, ip: str) -> Attempt:
    """Count one reset request, by address asked for and by client address, before any lookup
    (unknown addresses count the same, so the answer tells nothing)."""
    windows = [
        (RESETS_PER_EMAIL, f"{site_id}:{email}"),
        (RESETS_PER_ADDRESS, f"{site_id}:{address_key(ip)}"),
    ]
    return Attempt(limiter, _count(limiter, windows))


def admit_email_change(limiter: RateLimiter, *, site_id: str, user_id: int) -> Attempt:
    return Attempt(limiter, _count(limiter, [(EMAIL_CHANGES_PER_ACCOUNT, f"{site_id}:{user_id}")]))


def admit_password_check(limiter: RateLimiter, *, site_id: str, user_id: int) -> Attempt:
    """Count one check of a signed-in user's current password (change password or address)."""
    key = f"{site_id}:{user_id}"
    return Attempt(limiter, _count(limiter, [(PASSWORD_CHECKS_PER_ACCOUNT, key)]))


def _count(
    limiter: RateLimiter, windows: Sequence[tuple[Limit, str]]
) -> tuple[tuple[Limit, str], ...]:
    """Count the attempt in every window, or in none: Throttled by the first one that is full."""
    counted: list[tuple[Limit, str]] = []
    for limit, key in windows:
        wait = limiter.hit(limit, key)
        if wait is not None:
            for earlier_limit, earlier_key in counted:
                limiter.give_back(earlier_limit, earlier_key)
            raise Throttled(wait)
        counted.append((limit, key))
    return tuple(counted)
