"""The outbox's retry schedule: 30 s, doubling, at most an hour."""

from __future__ import annotations

from datetime import timedelta

from forkable.mail.delivery import retry_delay


def test_the_wait_doubles_from_30_seconds_up_to_an_hour() -> None:
    waits = [retry_delay(attempts).total_seconds() for attempts in range(1, 11)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert retry_delay(10_000) == timedelta(hours=1)
