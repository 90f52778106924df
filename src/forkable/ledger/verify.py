"""Recompute every balance from its entries and check the ledger's own invariants.

The checks that join other tables (users without an account, generations against their holds)
live with those tables: `accounts.verify`, `generations.verify`; `generations.verify.verify_all`
runs them all, as `forkable ledger verify` does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from forkable.ledger.book import resolution_ref
from forkable.ledger.models import EntryKind, LedgerEntry, TokenAccount

_RESOLUTIONS = {EntryKind.GENERATION_CAPTURE, EntryKind.GENERATION_VOID}

# A hold's key: (site id, the generation's ref).
HoldKey = tuple[str, str]


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


@dataclass
class LedgerAudit:
    """What the ledger says: its violations, and each hold with the entries that resolve it."""

    violations: list[Violation] = field(default_factory=list)
    holds: dict[HoldKey, LedgerEntry] = field(default_factory=dict)
    resolutions: dict[HoldKey, list[LedgerEntry]] = field(default_factory=lambda: defaultdict(list))


def verify_ledger(session: Session, site_id: str | None = None) -> list[Violation]:
    """Every violation of the ledger's own invariants, across all sites or one."""
    return audit_ledger(session, site_id).violations


def audit_ledger(session: Session, site_id: str | None = None) -> LedgerAudit:
    """Replay every entry against its account; check balances, holds and their resolutions."""
    entries_query = select(LedgerEntry).order_by(LedgerEntry.user_id, LedgerEntry.id)
    accounts_query = select(TokenAccount)
    if site_id is not None:
        entries_query = entries_query.where(LedgerEntry.site_id == site_id)
        accounts_query = accounts_query.where(TokenAccount.site_id == site_id)
    accounts = {a.user_id: a for a in session.scalars(accounts_query)}
    audit = LedgerAudit()

    running: dict[int, _Running] = defaultdict(_Running)
    for entry in session.scalars(entries_query):
        state = running[entry.user_id]
        audit.violations.extend(_check_entry(entry, state, accounts.get(entry.user_id)))
        if entry.kind == EntryKind.GENERATION_HOLD:
            audit.holds[(entry.site_id, entry.ref)] = entry
        elif entry.kind in _RESOLUTIONS:
            audit.resolutions[(entry.site_id, entry.hold_ref or "")].append(entry)

    for user_id, account in accounts.items():
        state = running[user_id]
        if (state.balance, state.held) != (account.balance, account.held):
            audit.violations.append(
                Violation(
                    account.site_id,
                    user_id,
                    f"cached balance {account.balance}/held {account.held} but entries sum to "
                    f"{state.balance}/{state.held}",
                )
            )

    audit.violations.extend(_check_holds(audit.holds, audit.resolutions, accounts))
    return audit


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
    holds: dict[HoldKey, LedgerEntry],
    resolutions: dict[HoldKey, list[LedgerEntry]],
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
