"""The alert state machine: pending, firing once, reminders after the cool-down, resolving."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.support.alerting import shipped

from forkable.db.types import utcnow
from forkable.monitoring.alerts.rule import Rule
from forkable.monitoring.alerts.state import (
    FIRING,
    OK,
    PENDING,
    MemoryStore,
    Observation,
    Status,
    step,
)

T0 = utcnow()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rule(**changes: object) -> Rule:
    return shipped("failed_logins", **changes)


def run(store: MemoryStore, rule: Rule, holds: bool, seconds: float) -> tuple[str, str | None]:
    state, notice = store.advance(
        Observation(rule, None, holds, 1.0 if holds else 0.0, "", at(seconds))
    )
    return state, notice.kind if notice else None


def test_fires_at_once_without_a_duration_and_stays_quiet_until_the_cool_down() -> None:
    store, r = MemoryStore(), rule(for_seconds=0, cooldown=600)
    assert run(store, r, True, 0) == (FIRING, "firing")
    assert run(store, r, True, 60) == (FIRING, None)
    assert run(store, r, True, 599) == (FIRING, None)
    assert run(store, r, True, 600) == (FIRING, "reminder")
    assert run(store, r, True, 700) == (FIRING, None)
    assert run(store, r, True, 1200) == (FIRING, "reminder")
    assert run(store, r, False, 1300) == (OK, "resolved")
    assert run(store, r, False, 1400) == (OK, None)


def test_waits_for_its_duration_and_a_blip_never_notifies() -> None:
    store, r = MemoryStore(), rule(for_seconds=120)
    assert run(store, r, True, 0) == (PENDING, None)
    assert run(store, r, False, 60) == (OK, None)
    assert run(store, r, True, 100) == (PENDING, None)
    assert run(store, r, True, 219) == (PENDING, None)
    assert run(store, r, True, 220) == (FIRING, "firing")


def test_a_zero_cool_down_never_reminds() -> None:
    store, r = MemoryStore(), rule(cooldown=0)
    assert run(store, r, True, 0) == (FIRING, "firing")
    assert run(store, r, True, 10**6) == (FIRING, None)


def test_a_notice_nobody_received_goes_out_again() -> None:
    store, r = MemoryStore(), rule()
    _, notice = store.advance(Observation(r, None, True, 9.0, "", at(0)))
    assert notice is not None
    store.undeliver(notice)
    assert run(store, r, True, 60) == (FIRING, "firing")
    assert run(store, r, True, 120) == (FIRING, None)


def test_firing_keeps_the_moment_the_condition_began() -> None:
    r = rule(for_seconds=60)
    pending, _ = step(Status(OK, at(-500), None), True, r, at(0))
    firing, kind = step(pending, True, r, at(60))
    assert (firing.state, firing.since, kind) == (FIRING, at(0), "firing")
    resolved, kind = step(firing, False, r, at(90))
    assert (resolved.state, resolved.since, kind) == (OK, at(90), "resolved")


def test_an_unknown_stored_state_starts_over_as_ok() -> None:
    status, kind = step(Status("silenced", at(0), None), True, rule(for_seconds=0), at(10))
    assert (status.state, kind) == (FIRING, "firing")
