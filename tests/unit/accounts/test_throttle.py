"""Login and sign-up throttles: counted ahead, given back, per (site, account, address)."""

from __future__ import annotations

import pytest

from forkable.accounts import throttle
from forkable.accounts.throttle import Throttled, address_key, admit_login, admit_signup
from forkable.ratelimit import RateLimiter

SITE = "coloringbook"
EMAIL = "ada@example.com"


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same subscriber
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("testclient", "testclient"),
    ],
)
def test_address_keys(ip: str, key: str) -> None:
    assert address_key(ip) == key


def fail(limiter: RateLimiter, ip: str, email: str = EMAIL, site: str = SITE) -> None:
    """One wrong password: admitted (counted), then nothing (the failure stays counted)."""
    admit_login(limiter, site_id=site, email=email, ip=ip)


def test_five_failures_from_one_address_hold_back_that_address_only() -> None:
    limiter = RateLimiter()
    for _ in range(5):
        fail(limiter, "203.0.113.1")
    with pytest.raises(Throttled) as refused:
        admit_login(limiter, site_id=SITE, email=EMAIL, ip="203.0.113.1")
    assert 1 <= refused.value.retry_after <= 15 * 60
    # The owner, elsewhere, gets in; so does the same address on another account or site.
    admit_login(limiter, site_id=SITE, email=EMAIL, ip="198.51.100.2").succeeded()
    admit_login(limiter, site_id=SITE, email="bob@example.com", ip="203.0.113.1")
    admit_login(limiter, site_id="pencilsketch", email=EMAIL, ip="203.0.113.1")


def test_twenty_failures_from_one_address_hold_it_back_on_this_site_only() -> None:
    limiter = RateLimiter()
    for number in range(20):
        fail(limiter, "203.0.113.1", email=f"guess{number}@example.com")
    with pytest.raises(Throttled):
        admit_login(limiter, site_id=SITE, email="new@example.com", ip="203.0.113.1")
    admit_login(limiter, site_id="pencilsketch", email="new@example.com", ip="203.0.113.1")


def test_a_refused_attempt_counts_nowhere() -> None:
    limiter = RateLimiter()
    for number in range(20):
        fail(limiter, "203.0.113.1", email=f"guess{number}@example.com")
    # Refused by the per-address window: the (account, address) window got its count back.
    for _ in range(3):
        with pytest.raises(Throttled):
            admit_login(limiter, site_id=SITE, email=EMAIL, ip="203.0.113.1")
    key = f"{SITE}:{EMAIL}:203.0.113.1"
    assert limiter.retry_after(throttle.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS, key) is None
    for _ in range(5):
        assert limiter.hit(throttle.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS, key) is None


def test_success_clears_this_address_and_gives_the_attempt_back_elsewhere() -> None:
    limiter = RateLimiter()
    for _ in range(4):
        fail(limiter, "203.0.113.1")
    admit_login(limiter, site_id=SITE, email=EMAIL, ip="203.0.113.1").succeeded()
    for _ in range(5):  # a fresh five for this address on this account
        fail(limiter, "203.0.113.1")
    # Successes cost the address nothing: nine failures so far, eleven to go.
    for number in range(11):
        fail(limiter, "203.0.113.1", email=f"other{number}@example.com")
    with pytest.raises(Throttled):
        fail(limiter, "203.0.113.1", email="one-more@example.com")


def test_an_unchecked_attempt_is_given_back() -> None:
    limiter = RateLimiter()
    for _ in range(10):
        admit_login(limiter, site_id=SITE, email=EMAIL, ip="203.0.113.1").give_back()
    for _ in range(5):
        fail(limiter, "203.0.113.1")
    with pytest.raises(Throttled):
        fail(limiter, "203.0.113.1")


def test_guessing_from_many_addresses_stops_at_the_account_ceiling_but_not_the_owner() -> None:
    limiter = RateLimiter()
    admit_login(limiter, site_id=SITE, email=EMAIL, ip="198.51.100.2").succeeded()  # the owner
    for number in range(10):
        for _ in range(5):
            fail(limiter, f"203.0.113.{number}")
    # Fifty failures on the account: a new address waits, even with the right password ...
    with pytest.raises(Throttled):
        admit_login(limiter, site_id=SITE, email=EMAIL, ip="192.0.2.99")
    # ... and the owner's own address is let through.
    admit_login(limiter, site_id=SITE, email=EMAIL, ip="198.51.100.2").succeeded()
    admit_login(limiter, site_id=SITE, email="bob@example.com", ip="192.0.2.99")


def test_sign_ups_are_counted_per_site_and_address() -> None:
    limiter = RateLimiter()
    for _ in range(10):
        admit_signup(limiter, site_id=SITE, ip="203.0.113.1")
    with pytest.raises(Throttled):
        admit_signup(limiter, site_id=SITE, ip="203.0.113.1")
    admit_signup(limiter, site_id=SITE, ip="203.0.113.2")
    admit_signup(limiter, site_id="pencilsketch", ip="203.0.113.1").give_back()
