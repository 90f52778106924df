"""Check generations against their ledger holds, and run every check of `ledger verify`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from forkable.accounts.verify import users_without_account
from forkable.generations.models import Generation, HoldState, Status
from forkable.ledger.models import EntryKind, LedgerEntry
from forkable.ledger.verify import HoldKey, Violation, audit_ledger

_EXPECTED_HOLD_STATE = {
    Status.QUEUED: {HoldState.OPEN},
    Status.RUNNING: {HoldState.OPEN},
    Status.SUCCEEDED: {HoldState.CAPTURED},
    Status.FAILED: {HoldState.VOIDED},
}


def verify_all(session: Session, site_id: str | None = None) -> list[Violation]:
    """Every violation `forkable ledger verify` reports, across all sites or one."""
    violations = list(users_without_account(session, site_id))
    audit = audit_ledger(session, site_id)
    violations.extend(audit.violations)
    generations = select(Generation)
    if site_id is not None:
        generations = generations.where(Generation.site_id == site_id)
    violations.extend(
        _check_generations(session.scalars(generations), audit.holds, audit.resolutions)
    )
    return violations


def _check_generations(
    generations: Iterable[Generation],
    holds: dict[HoldKey, LedgerEntry],
    resolutions: dict[HoldKey, list[LedgerEntry]],
) -> Iterator[Violation]:
    for generation in generations:
        key = (generation.site_id, generation.ref)
        hold = holds.get(key)
        where = f"generation {generation.id}"
        if hold is None:
            yield Violation(generation.site_id, generation.user_id, f"{where} has no hold")
            continue
        if hold.held_delta != generation.cost:
            yield Violation(
                generation.site_id, generation.user_id, f"{where} held a different cost"
            )
        found = resolutions.get(key, [])
        state = HoldState.OPEN
        if found:
            capture = found[0].kind == EntryKind.GENERATION_CAPTURE
            state = HoldState.CAPTURED if capture else HoldState.VOIDED
        if generation.hold_state != state:
            yield Violation(
                generation.site_id,
                generation.user_id,
                f"{where} says its hold is {generation.hold_state}, the ledger says {state}",
            )
        if state not in _EXPECTED_HOLD_STATE.get(Status(generation.status), set()):
            yield Violation(
                generation.site_id,
                generation.user_id,
                f"{where} is {generation.status} but its hold is {state}",
            )
