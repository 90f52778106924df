"""Admission: may this user start one more generation now?

Three limits decide it: the user's generations per minute, the site's daily provider spend
cap, and the user's available tokens. They are decided inside the transaction that creates
the generation row and places its hold (`service.submit`), after locking the user's token
account, so concurrent submits (threads or processes, SQLite or PostgreSQL) are counted one
after the other and none slips past a limit: the rate is counted from the generation rows
themselves, the spend is reserved with a guarded UPDATE of the site's `SpendDay`, and the
hold's guarded UPDATE keeps the balance. `precheck` asks the same questions without changing anything,
so a submit that will be refused is refused before its upload is read.

The end of a generation (`settle`) moves its reservation to the day's reported spend.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Insert, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from forkable.generations.models import Generation, SpendDay
from forkable.ledger.book import InsufficientTokens, get_balance
from forkable.sites import Site

logger = logging.getLogger(__name__)

MICRO_USD = 1_000_000
RATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class AdmissionPolicy:
    """A site's limits for one submit, and what one of its generations is expected to cost."""

    per_minute: int
    daily_cap_usd: float
    cost_tokens: int
    estimated_cost_usd: float  # provider spend; 0 for the free local filters

    @classmethod
    def for_site(cls, site: Site, estimated_cost_usd: float) -> AdmissionPolicy:
        limits = site.manifest.limits
        return cls(
            per_minute=limits.generations_per_minute,
            daily_cap_usd=limits.daily_spend_cap_usd,
            cost_tokens=site.manifest.pricing.cost_per_generation,
            estimated_cost_usd=estimated_cost_usd,
        )

    @property
    def estimate_micro_usd(self) -> int:
        return math.ceil(self.estimated_cost_usd * MICRO_USD)

    @property
    def cap_micro_usd(self) -> int:
        return math.floor(self.daily_cap_usd * MICRO_USD)


class Refused(Exception):
    """Admission said no; the subclass says why."""


class TooFast(Refused):
    """The user started ``per_minute`` generations within the last minute."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited for {retry_after} s")
        self.retry_after = retry_after


class SpendCapReached(Refused):
    """One more generation would take the site past its daily provider spend cap."""

    def __init__(self, site_id: str, spent_usd: float, cap_usd: float, retry_after: int) -> None:
        super().__init__(f"daily spend cap reached on {site_id}: {spent_usd:.2f} of {cap_usd:.2f}")
        self.site_id = site_id
        self.spent_usd = spent_usd
        self.cap_usd = cap_usd
        self.retry_after = retry_after


def precheck(
    session: Session, policy: AdmissionPolicy, *, site_id: str, user_id: int, now: datetime
) -> None:
    """Raise the refusal `admit` would raise now, changing nothing (a read-only session)."""
    _check_rate(session, policy, site_id=site_id, user_id=user_id, now=now)
    if policy.estimate_micro_usd > 0:
        committed = session.scalar(
            select(SpendDay.spent_micro_usd + SpendDay.reserved_micro_usd).where(
                SpendDay.site_id == site_id, SpendDay.day == now.date()
            )
        )
        if (committed or 0) + policy.estimate_micro_usd > policy.cap_micro_usd:
            raise _cap_reached(site_id, committed or 0, policy, now)
    available = get_balance(session, user_id).available
    if available < policy.cost_tokens:
        raise InsufficientTokens(policy.cost_tokens, available)


def admit(
    session: Session, policy: AdmissionPolicy, *, site_id: str, user_id: int, now: datetime
) -> int:
    """Admit one generation in the caller's write transaction, or raise a refusal.

    The caller holds the user's token account (`ledger.book.lock_account`) from before this
    call to its commit, so the submits of one user are decided one after the other. Checks
    the rate and reserves the estimated spend; returns the micro-dollars reserved, which the
    generation row keeps for `settle`. The balance is the hold's own guarded UPDATE, placed
    next by the caller.
    """
    _check_rate(session, policy, site_id=site_id, user_id=user_id, now=now)
    estimate = policy.estimate_micro_usd
    if estimate > 0:
        _reserve(session, policy, site_id=site_id, day=now.date(), now=now)
    return estimate


def settle(
    session: Session,
    *,
    site_id: str,
    day: date,
    reserved_micro_usd: int,
    cost_usd: float | None,
) -> None:
    """At a generation's end: its reservation leaves the day, what it cost joins it."""
    cost = round((cost_usd or 0.0) * MICRO_USD)
    if reserved_micro_usd == 0 and cost == 0:
        return
    connection = session.connection()
    parameters = {
        "p_site_id": site_id,
        "p_day": day,
        "p_reserved": reserved_micro_usd,
        "p_cost": cost,
    }
    if connection.execute(_SETTLE, parameters).rowcount == 0:
        # Nothing was reserved that day (a provider reported a cost no estimate foresaw).
        connection.execute(_new_day(connection.dialect.name), parameters)
        connection.execute(_SETTLE, parameters)


def seconds_to_midnight(now: datetime) -> int:
    """Whole seconds until the next UTC day, when spend caps start afresh."""
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def _check_rate(
    session: Session, policy: AdmissionPolicy, *, site_id: str, user_id: int, now: datetime
) -> None:
    # The newest `per_minute` starts in the window: when there are that many, the oldest of
    # them leaving the window is when one more may start.
    recent = list(
        session.scalars(
            select(Generation.created_at)
            .where(
                Generation.site_id == site_id,
                Generation.user_id == user_id,
                Generation.created_at > now - RATE_WINDOW,
            )
            .order_by(Generation.created_at.desc())
            .limit(policy.per_minute)
        )
    )
    if len(recent) >= policy.per_minute:
        wait = (recent[-1] + RATE_WINDOW - now).total_seconds()
        raise TooFast(max(1, math.ceil(wait)))


# Built once: a statement object keeps its cache key (see ledger.book).
_RESERVE = (
    update(SpendDay)
    .where(
        SpendDay.site_id == bindparam("p_site_id"),
        SpendDay.day == bindparam("p_day"),
        SpendDay.spent_micro_usd + SpendDay.reserved_micro_usd + bindparam("p_estimate")
        <= bindparam("p_cap"),
    )
    .values(reserved_micro_usd=SpendDay.reserved_micro_usd + bindparam("p_estimate"))
)
_SETTLE = (
    update(SpendDay)
    .where(SpendDay.site_id == bindparam("p_site_id"), SpendDay.day == bindparam("p_day"))
    .values(
        reserved_micro_usd=SpendDay.reserved_micro_usd - bindparam("p_reserved"),
        spent_micro_usd=SpendDay.spent_micro_usd + bindparam("p_cost"),
    )
)


@functools.cache
def _new_day(dialect: str) -> Insert:
    """INSERT the day's row unless another transaction already has (both engines say it so)."""
    values = {
        "site_id": bindparam("p_site_id"),
        "day": bindparam("p_day"),
        "reserved_micro_usd": 0,
        "spent_micro_usd": 0,
    }
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return dialect_insert(SpendDay).values(values).on_conflict_do_nothing()


def _reserve(
    session: Session, policy: AdmissionPolicy, *, site_id: str, day: date, now: datetime
) -> None:
    parameters = {
        "p_site_id": site_id,
        "p_day": day,
        "p_estimate": policy.estimate_micro_usd,
        "p_cap": policy.cap_micro_usd,
    }
    connection = session.connection()
    day_row = select(SpendDay.spent_micro_usd + SpendDay.reserved_micro_usd).where(
        SpendDay.site_id == site_id, SpendDay.day == day
    )
    committed = 0
    # At most three tries, each after the day's row changed under us: the first submit of
    # the day adds the row (two first submits may race to add it on PostgreSQL: the loser's
    # insert does nothing), and a row committed by another submit between our UPDATE and
    # our SELECT is reserved from on the next try, not mistaken for a full day.
    for _ in range(3):
        if connection.execute(_RESERVE, parameters).rowcount == 1:
            return
        found = session.scalar(day_row)
        if found is None:
            connection.execute(
                _new_day(connection.dialect.name), {"p_site_id": site_id, "p_day": day}
            )
            continue
        committed = found
        if committed + policy.estimate_micro_usd > policy.cap_micro_usd:
            break
    raise _cap_reached(site_id, committed, policy, now)


def _cap_reached(
    site_id: str, committed_micro_usd: int, policy: AdmissionPolicy, now: datetime
) -> SpendCapReached:
    spent = committed_micro_usd / MICRO_USD
    logger.warning(
        "daily spend cap reached on %s: %.2f of %.2f USD",
        site_id,
        spent,
        policy.daily_cap_usd,
        extra={"event": "spend_cap_reached", "site_id": site_id, "spent_usd": spent},
    )
    return SpendCapReached(site_id, spent, policy.daily_cap_usd, seconds_to_midnight(now))
