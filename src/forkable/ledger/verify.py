"""Recompute every balance from its entries and check every ledger invariant."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forkable.accounts.models import User
from forkable.generations.models import Generation, HoldState, Status
from forkable.ledger.book import resolution_ref
from forkable.ledger.models import EntryKind, LedgerEntry, TokenAccount

_RESOLUTIONS = {EntryKind.GENERATION_CAPTURE, EntryKind.GENERATION_VOID}
_EXPECTED_HOLD_STATE = {
    Status.QUEUED: {HoldState.OPEN},
    Status.RUNNING: {HoldState.OPEN},
    Status.SUCCEEDED: {HoldState.CAPTURED},
    Status.FAILED: {HoldState.VOIDED},
}


@dataclass(frozen=True)
class Violation:
    site_id: str
    user_id: int | None
    message: str

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id is not None else "site"
        return f"{self.site_id}: {who}: {self.message}"


@dataclass
class _Running:
    balance: int = 0
    held: int = 0


def verify(session: Session, site_id: str | None = None) -> list[Violation]:
    """Every violation found, across all sites or one."""
    return list(_violations(session, site_id))


def _violations(session: Session, site_id: str | None) -> Iterator[Violation]:
    entries_query = select(LedgerEntry).order_by(LedgerEntry.user_id, LedgerEntry.id)
    accounts_query = select(TokenAccount)
    users_query = select(User.id, User.site_id)
    generations_query = select(Generation)
    if site_id is not None:
        entries_query = entries_query.where(LedgerEntry.site_id == site_id)
        accounts_query = accounts_query.where(TokenAccount.site_id == site_id)
        users_query = users_query.where(User.site_id == site_id)
        generations_query = generations_query.where(Generation.site_id == site_id)

    accounts = {a.user_id: a for a in session.scalars(accounts_query)}
    for user_id, user_site in session.execute(users_query):
        if user_id not in accounts:
            yield Violation(user_site, user_id, "user has no token account")

    running: dict[int, _Running] = defaultdict(_Running)
    holds: dict[tuple[str, str], LedgerEntry] = {}
    resolutions: dict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
    for entry in session.scalars(entries_query):
        state = running[entry.user_id]
        yield from _check_entry(entry, state, accounts.get(entry.user_id))
        if entry.kind == EntryKind.GENERATION_HOLD:
            holds[(entry.site_id, entry.ref)] = entry
        elif entry.kind in _RESOLUTIONS:
            resolutions[(entry.site_id, entry.hold_ref or "")].append(entry)

    for user_id, account in accounts.items():
        state = running[user_id]
        if (state.balance, state.held) != (account.balance, account.held):
            yield Violation(
                account.site_id,
                user_id,
                f"cached balance {account.balance}/held {account.held} but entries sum to "
                f"{state.balance}/{state.held}",
            )

    yield from _check_holds(holds, resolutions, accounts)
    yield from _check_generations(session.scalars(generations_query), holds, resolutions)


def _check_entry(
    entry: LedgerEntry, state: _Running, account: TokenAccount | None
) -> Iterator[Violation]:
    where = f"entry {entry.id} ({entry.kind} {entry.ref})"
    if account is None:
        yield Violation(entry.site_id, entry.user_id, f"{where} has no token account")
    elif account.site_id != entry.site_id:
        yield Violation(entry.site_id, entry.user_id, f"{where} books on another site's account")
    state.balance += entry.amount
    state.held += entry.held_delta
    if (state.balance, state.held) != (entry.balance_after, entry.held_after):
        yield Violation(
            entry.site_id,
            entry.user_id,
            f"{where} records {entry.balance_after}/{entry.held_after} after it, "
            f"the entries before it give {state.balance}/{state.held}",
        )
    if state.held < 0:
        yield Violation(entry.site_id, entry.user_id, f"{where} leaves held tokens negative")
    # Only a clawback (money taken back after the tokens were spent) may overdraw an account.
    if (
        entry.kind != EntryKind.CLAWBACK
        and entry.amount - entry.held_delta < 0
        and state.balance - state.held < 0
    ):
        yield Violation(entry.site_id, entry.user_id, f"{where} overdraws the account")


def _check_holds(
    holds: dict[tuple[str, str], LedgerEntry],
    resolutions: dict[tuple[str, str], list[LedgerEntry]],
    accounts: dict[int, TokenAccount],
) -> Iterator[Violation]:
    open_held: dict[int, int] = defaultdict(int)
    for key, hold in holds.items():
        found = resolutions.get(key, [])
        if len(found) > 1:
            yield Violation(
                hold.site_id, hold.user_id, f"hold {hold.ref} resolved {len(found)} times"
            )
        if not found:
            open_held[hold.user_id] += hold.held_delta
        for resolution in found:
            if resolution.ref != resolution_ref(hold.ref) or resolution.user_id != hold.user_id:
                yield Violation(
                    hold.site_id, hold.user_id, f"hold {hold.ref} resolved by a stray entry"
                )
            if resolution.held_delta != -hold.held_delta:
                yield Violation(
                    hold.site_id, hold.user_id, f"hold {hold.ref} released a different amount"
                )
            if (
                resolution.kind == EntryKind.GENERATION_CAPTURE
                and resolution.amount != -hold.held_delta
            ):
                yield Violation(
                    hold.site_id, hold.user_id, f"hold {hold.ref} captured a different amount"
                )
            if resolution.kind == EntryKind.GENERATION_VOID and resolution.amount != 0:
                yield Violation(
                    hold.site_id, hold.user_id, f"hold {hold.ref} void changed the balance"
                )
    for key, found in resolutions.items():
        if key not in holds:
            entry = found[0]
            yield Violation(
                entry.site_id, entry.user_id, f"{entry.ref} resolves a hold that does not exist"
            )
    for user_id, account in accounts.items():
        if open_held.get(user_id, 0) != account.held:
            yield Violation(
                account.site_id,
                user_id,
                f"open holds total {open_held.get(user_id, 0)} but the account holds {account.held}",
            )


def _check_generations(
    generations: Iterable[Generation],
    holds: dict[tuple[str, str], LedgerEntry],
    resolutions: dict[tuple[str, str], list[LedgerEntry]],
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
