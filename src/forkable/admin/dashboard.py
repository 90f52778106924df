"""Per-day numbers of a site: sign-ups, images, failures, revenue, provider cost, margin.

Days are UTC calendar days. Rows are grouped by day in SQL with one small expression per
engine (`day_of`), so a busy site's 30 days cost four grouped queries, not a row scan in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from forkable.accounts.models import User
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.generations.models import Generation, Status
from forkable.payments.models import Purchase, PurchaseStatus

DAYS = 30


@dataclass(frozen=True)
class Day:
    day: date
    signups: int = 0
    generations: int = 0
    failures: int = 0
    revenue_cents: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Totals:
    signups: int
    generations: int
    failures: int
    revenue_cents: int
    cost_usd: float
    currency: str

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.generations if self.generations else None

    @property
    def margin_cents(self) -> int | None:
        """Revenue minus provider cost; None when revenue is not in dollars (no FX here)."""
        if self.currency != "usd":
            return None
        return self.revenue_cents - round(self.cost_usd * 100)

    @property
    def margin_rate(self) -> float | None:
        margin = self.margin_cents
        if margin is None or self.revenue_cents <= 0:
            return None
        return margin / self.revenue_cents


@dataclass(frozen=True)
class Dashboard:
    site_id: str
    days: list[Day]  # oldest first, one per calendar day, days without rows included
    totals: Totals


def day_of(column: Any, dialect: str) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp column as ``YYYY-MM-DD`` text, on either engine."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite stores our timestamps as UTC text, 'YYYY-MM-DD HH:MM:SS...': the day leads.
    return func.substr(column, 1, 10)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


Key = tuple[str, str]  # (site id, day as YYYY-MM-DD)


def _series(
    session: Session, site_ids: Iterable[str], since: datetime, currencies: dict[str, str]
) -> dict[Key, dict[str, Any]]:
    """Every number per site and day since ``since``."""
    ids = list(site_ids)
    dialect = session.get_bind().dialect.name
    out: dict[Key, dict[str, Any]] = defaultdict(dict)

    signup_day = day_of(User.created_at, dialect)
    for site_id, day, count in session.execute(
        select(User.site_id, signup_day, func.count())
        .where(User.site_id.in_(ids), User.created_at >= since)
        .group_by(User.site_id, signup_day)
    ):
        out[(site_id, day)]["signups"] = int(count)

    made_day = day_of(Generation.created_at, dialect)
    for site_id, day, count, failed, cost in session.execute(
        select(
            Generation.site_id,
            made_day,
            func.count(),
            func.sum(case((Generation.status == Status.FAILED, 1), else_=0)),
            func.coalesce(func.sum(Generation.cost_usd), 0.0),
        )
        .where(Generation.site_id.in_(ids), Generation.created_at >= since)
        .group_by(Generation.site_id, made_day)
    ):
        values = out[(site_id, day)]
        values.update(generations=int(count), failures=int(failed or 0), cost_usd=float(cost))

    # Net revenue by the day of payment: a pack refunded or disputed later is not revenue.
    paid_day = day_of(Purchase.paid_at, dialect)
    for site_id, day, currency, cents in session.execute(
        select(Purchase.site_id, paid_day, Purchase.currency, func.sum(Purchase.amount_cents))
        .where(
            Purchase.site_id.in_(ids),
            Purchase.status == PurchaseStatus.PAID,
            Purchase.paid_at >= since,
        )
        .group_by(Purchase.site_id, paid_day, Purchase.currency)
    ):
        # Amounts in another currency (the manifest changed) cannot be added without FX rates.
        if currency == currencies.get(site_id):
            out[(site_id, day)]["revenue_cents"] = int(cents or 0)
    return out


def _days(series: dict[Key, dict[str, Any]], site_id: str, first: date, count: int) -> list[Day]:
    days = []
    for offset in range(count):
        day = first + timedelta(days=offset)
        days.append(Day(day, **series.get((site_id, day.isoformat()), {})))
    return days


def _totals(days: list[Day], currency: str) -> Totals:
    return Totals(
        signups=sum(d.signups for d in days),
        generations=sum(d.generations for d in days),
        failures=sum(d.failures for d in days),
        revenue_cents=sum(d.revenue_cents for d in days),
        cost_usd=sum(d.cost_usd for d in days),
        currency=currency,
    )


def dashboards(
    database: Database,
    currencies: dict[str, str],
    *,
    days: int = DAYS,
    today: date | None = None,
) -> dict[str, Dashboard]:
    """The last ``days`` days (today included) of every site in ``currencies`` (id -> currency)."""
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    with database.session() as session:
        series = _series(session, currencies, _midnight(first), currencies)
    result = {}
    for site_id, currency in currencies.items():
        site_days = _days(series, site_id, first, days)
        result[site_id] = Dashboard(site_id, site_days, _totals(site_days, currency))
    return result


def dashboard(
    database: Database, site_id: str, currency: str, *, days: int = DAYS, today: date | None = None
) -> Dashboard:
    """The last ``days`` days of one site."""
    return dashboards(database, {site_id: currency}, days=days, today=today)[site_id]
