"""Facts noted inside a write transaction, told to observers only once it commits.

Metrics count what happened, not what was tried: a ledger entry whose transaction rolled back
was never booked. Code that changes state notes a fact on its session in one line, without
knowing who listens; `observe` registers a listener on one database that receives the facts
of each commit. Facts of a transaction that rolls back are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, SessionTransaction

if TYPE_CHECKING:
    from forkable.db import Database

logger = logging.getLogger(__name__)

_KEY = "forkable.facts"


@dataclass(frozen=True)
class LedgerBooked:
    """One ledger entry (``amount`` and ``held_delta`` signed as booked)."""

    site_id: str
    kind: str
    amount: int
    held_delta: int


@dataclass(frozen=True)
class PurchasePaid:
    """A pack was paid for and its tokens credited (once per purchase)."""

    site_id: str
    currency: str
    amount_cents: int


@dataclass(frozen=True)
class GenerationFinished:
    """A generation reached its final state."""

    site_id: str
    provider: str | None
    style: str | None
    outcome: str  # succeeded | failed
    reason: str | None  # the failure reason (providers.base), None on success
    seconds: float  # from submission to the final state: what the visitor waited
    cost_usd: float | None


@dataclass(frozen=True)
class StatusChanged:
    """A generation moved to ``status`` (claimed, queued again, or finished): what wakes the
    requests waiting on it (`forkable.generations.waits`)."""

    generation_id: str
    status: str


Fact = LedgerBooked | PurchasePaid | GenerationFinished | StatusChanged
Listener = Callable[[list[Fact]], None]


def note(session: Session, fact: Fact) -> None:
    """Remember ``fact`` until ``session``'s transaction ends; observers hear of it on commit."""
    session.info.setdefault(_KEY, []).append(fact)


def noted(session: Session) -> list[Fact]:
    """The facts noted so far in ``session``'s transaction (not yet committed)."""
    return list(session.info.get(_KEY, ()))


def observe(database: Database, listener: Listener) -> None:
    """Call ``listener`` with the facts of every transaction on ``database`` that commits."""

    def after_commit(session: Session) -> None:
        # SQLAlchemy also calls this when a savepoint is released; only the outermost counts.
        if session.in_nested_transaction():
            return
        facts = session.info.get(_KEY)
        if not facts:
            return
        try:
            listener(list(facts))
        except Exception:
            # The data is committed; a broken observer must not turn that into an error.
            logger.exception("a commit observer failed")

    database.listen("after_commit", after_commit)
    database.listen("after_transaction_end", _forget)


def _forget(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    # after_transaction_end follows after_commit, and also ends a rolled-back transaction:
    # either way the facts of the outermost transaction are done with.
    if transaction.parent is None:
        session.info.pop(_KEY, None)
