"""Booking entries: every change to a token balance goes through these functions.

Each function runs inside the caller's write transaction, so a ledger entry commits together
with whatever caused it (a new user, a generation row, a webhook record). The cached balance
is changed by a guarded UPDATE in the same transaction, so it can never go below what the
guard allows whatever runs concurrently, and the entry's idempotency reference is unique per
site, so the same event is never booked twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Row, Update, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forkable.db.events import LedgerBooked, note
from forkable.ledger.models import EntryKind, LedgerEntry, TokenAccount


class LedgerError(Exception):
    """A booking that the rules forbid; the message is for people."""


class InsufficientTokens(LedgerError):
    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"Not enough tokens: this needs {needed} and {available} "
            f"{'is' if available == 1 else 'are'} available."
        )
        self.needed = needed
        self.available = available


class HoldNotOpen(LedgerError):
    """The hold was already captured or voided (or never placed)."""


@dataclass(frozen=True)
class Balance:
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


def _account_change(*, guarded: bool) -> Update:
    statement = (
        update(TokenAccount)
        .where(
            TokenAccount.user_id == bindparam("p_user_id"),
            TokenAccount.site_id == bindparam("p_site_id"),
        )
        .values(
            balance=TokenAccount.balance + bindparam("p_amount"),
            held=TokenAccount.held + bindparam("p_held_delta"),
        )
        .returning(TokenAccount.balance, TokenAccount.held)
    )
    if not guarded:
        return statement
    return statement.where(
        TokenAccount.balance - TokenAccount.held + bindparam("p_amount") - bindparam("p_held_delta")
        >= bindparam("p_min_available")
    )


# The statements of a booking, built once: a statement object keeps its cache key, so running
# it again skips building the statement and its key, most of a booking's Python time (which
# holds the GIL the job workers' filters need).
_CHANGE_ACCOUNT = _account_change(guarded=False)
_CHANGE_ACCOUNT_GUARDED = _account_change(guarded=True)
_INSERT_ENTRY = insert(LedgerEntry).returning(LedgerEntry.id)
_OPEN_HOLD = select(LedgerEntry.user_id, LedgerEntry.held_delta).where(
    LedgerEntry.site_id == bindparam("p_site_id"),
    LedgerEntry.ref == bindparam("p_ref"),
    LedgerEntry.kind == EntryKind.GENERATION_HOLD,
)


def resolution_ref(hold_ref: str) -> str:
    """Capture and void share one reference, so a hold can be resolved only once."""
    return f"{hold_ref}:resolved"


def open_account(session: Session, *, site_id: str, user_id: int) -> TokenAccount:
    account = TokenAccount(site_id=site_id, user_id=user_id, balance=0, held=0)
    session.add(account)
    session.flush()
    return account


def get_balance(session: Session, user_id: int) -> Balance:
    row = session.execute(
        select(TokenAccount.balance, TokenAccount.held).where(TokenAccount.user_id == user_id)
    ).one()
    return Balance(balance=row.balance, held=row.held)


def lock_account(session: Session, *, site_id: str, user_id: int) -> None:
    """Hold the user's account row until the transaction ends (PostgreSQL; SQLite writers
    already take turns), so decisions that read before they book see every earlier one."""
    session.execute(
        select(TokenAccount.user_id)
        .where(TokenAccount.user_id == user_id, TokenAccount.site_id == site_id)
        .with_for_update()
    )


def find_entry(session: Session, site_id: str, ref: str) -> LedgerEntry | None:
    return session.scalar(
        select(LedgerEntry).where(LedgerEntry.site_id == site_id, LedgerEntry.ref == ref)
    )


def _book(
    session: Session,
    *,
    site_id: str,
    user_id: int,
    kind: EntryKind,
    amount: int,
    held_delta: int,
    ref: str,
    min_available: int | None,
    hold_ref: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> int | None:
    """Apply one entry and return its id; None when ``ref`` is already booked (seen before).

    Most references are new, so the unique index on (site, ref) is the duplicate check: no
    SELECT before the write. A savepoint lets a duplicate (or a race lost on that index)
    undo our balance change only.
    """
    savepoint = session.begin_nested()
    connection = session.connection()
    try:
        row = _change_balance(
            connection,
            site_id=site_id,
            user_id=user_id,
            amount=amount,
            held_delta=held_delta,
            min_available=min_available,
        )
        if row is None:
            savepoint.rollback()
            _refuse_unless_booked(session, site_id, user_id, ref, needed=held_delta - amount)
            return None  # already booked: a repeat is not refused for want of tokens
        # Both statements run on the session's connection, as Core: accounts and entries are
        # never read back through this session, and the ORM's bulk-statement handling and
        # unit of work would cost more than the SQL itself.
        entry_id: int = connection.execute(
            _INSERT_ENTRY,
            {
                "site_id": site_id,
                "user_id": user_id,
                "kind": kind,
                "amount": amount,
                "held_delta": held_delta,
                "balance_after": row.balance,
                "held_after": row.held,
                "ref": ref,
                "hold_ref": hold_ref,
                "reason": reason,
                "actor": actor,
            },
        ).scalar_one()
    except IntegrityError:
        savepoint.rollback()
        if find_entry(session, site_id, ref) is not None:
            return None
        raise
    savepoint.commit()
    note(session, LedgerBooked(site_id, kind, amount, held_delta))
    return entry_id


def _change_balance(
    connection: Connection,
    *,
    site_id: str,
    user_id: int,
    amount: int,
    held_delta: int,
    min_available: int | None,
) -> Row[tuple[int, int]] | None:
    """The account's new (balance, held); None when ``min_available`` would not be left."""
    change = {
        "p_user_id": user_id,
        "p_site_id": site_id,
        "p_amount": amount,
        "p_held_delta": held_delta,
    }
    if min_available is None:
        return connection.execute(_CHANGE_ACCOUNT, change).one_or_none()
    change["p_min_available"] = min_available
    return connection.execute(_CHANGE_ACCOUNT_GUARDED, change).one_or_none()


def _refuse_unless_booked(
    session: Session, site_id: str, user_id: int, ref: str, *, needed: int
) -> None:
    """Raise InsufficientTokens, unless ``ref`` was booked before (then return)."""
    if find_entry(session, site_id, ref) is not None:
        return
    current = get_balance(session, user_id)
    raise InsufficientTokens(needed=needed, available=current.available)


def credit(
    session: Session,
    *,
    site_id: str,
    user_id: int,
    amount: int,
    kind: EntryKind,
    ref: str,
    reason: str | None = None,
    actor: str | None = None,
) -> int | None:
    """Add tokens (sign-up bonus, purchase, grant); None if ``ref`` was already booked."""
    if amount <= 0:
        raise LedgerError("a credit must be a positive number of tokens")
    return _book(
        session,
        site_id=site_id,
        user_id=user_id,
        kind=kind,
        amount=amount,
        held_delta=0,
        ref=ref,
        min_available=None,
        reason=reason,
        actor=actor,
    )


def debit(
    session: Session,
    *,
    site_id: str,
    user_id: int,
    amount: int,
    kind: EntryKind,
    ref: str,
    reason: str | None = None,
    actor: str | None = None,
    allow_negative: bool = False,
) -> int | None:
    """Remove tokens; refuses to go below zero available unless ``allow_negative`` (clawbacks)."""
    if amount <= 0:
        raise LedgerError("a debit must be a positive number of tokens")
    return _book(
        session,
        site_id=site_id,
        user_id=user_id,
        kind=kind,
        amount=-amount,
        held_delta=0,
        ref=ref,
        min_available=None if allow_negative else 0,
        reason=reason,
        actor=actor,
    )


def place_hold(
    session: Session, *, site_id: str, user_id: int, amount: int, ref: str
) -> int | None:
    """Reserve ``amount`` tokens; raise InsufficientTokens when fewer are available."""
    if amount <= 0:
        raise LedgerError("a hold must be a positive number of tokens")
    return _book(
        session,
        site_id=site_id,
        user_id=user_id,
        kind=EntryKind.GENERATION_HOLD,
        amount=0,
        held_delta=amount,
        ref=ref,
        min_available=0,
    )


def _resolve_hold(
    session: Session, *, site_id: str, hold_ref: str, capture: bool, reason: str | None
) -> int | None:
    hold = (
        session.connection()
        .execute(_OPEN_HOLD, {"p_site_id": site_id, "p_ref": hold_ref})
        .one_or_none()
    )
    if hold is None:
        raise HoldNotOpen(f"no hold {hold_ref!r}")
    amount = hold.held_delta
    return _book(
        session,
        site_id=site_id,
        user_id=hold.user_id,
        kind=EntryKind.GENERATION_CAPTURE if capture else EntryKind.GENERATION_VOID,
        amount=-amount if capture else 0,
        held_delta=-amount,
        ref=resolution_ref(hold_ref),
        hold_ref=hold_ref,
        min_available=None,
        reason=reason,
    )


def capture_hold(session: Session, *, site_id: str, hold_ref: str) -> int | None:
    """Spend the held tokens; None if the hold was already resolved."""
    return _resolve_hold(session, site_id=site_id, hold_ref=hold_ref, capture=True, reason=None)


def void_hold(
    session: Session, *, site_id: str, hold_ref: str, reason: str | None = None
) -> int | None:
    """Give the held tokens back; None if the hold was already resolved."""
    return _resolve_hold(session, site_id=site_id, hold_ref=hold_ref, capture=False, reason=reason)
