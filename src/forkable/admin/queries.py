"""What the admin console lists: users, ledgers, generations, purchases, the audit log.

Every query takes the site id and filters by it: an admin sees their own site only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from forkable.accounts.models import User
from forkable.admin.models import AuditEntry
from forkable.db import Database
from forkable.db.types import utcnow
from forkable.generations.models import Generation, Status
from forkable.ledger.models import LedgerEntry, TokenAccount
from forkable.payments.models import Purchase

PAGE_SIZE = 50
# The domain of an erased account's tombstone address (see `account_data.erase`).
ERASED_SUFFIX = "@erased.invalid"
T = TypeVar("T")


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    is_admin: bool
    disabled_at: datetime | None
    created_at: datetime
    balance: int
    held: int
    email_verified_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def label(self) -> str:
        """How the console names the user: an erased account has no address to show."""
        return user_label(self.id, self.email, self.deleted_at)

    @property
    def verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def available(self) -> int:
        """Tokens the user can spend; negative when they owe tokens after a clawback."""
        return self.balance - self.held


def user_label(user_id: int, email: str, deleted_at: datetime | None) -> str:
    """The address, or `deleted #id` for an erased account (its address is a tombstone)."""
    return f"deleted #{user_id}" if deleted_at is not None else email


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    has_more: bool


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        value = self.details.get("reason")
        return value if isinstance(value, str) else None

    @property
    def target_label(self) -> str:
        """Whom the action was about, in words: the user's e-mail when known."""
        email = self.details.get("email")
        erased = self.entry.action == "user.delete" or (
            isinstance(email, str) and email.endswith(ERASED_SUFFIX)
        )
        if erased and self.entry.target_type == "user":
            return f"deleted #{self.entry.target_id}"
        if isinstance(email, str):
            return email
        return f"{self.entry.target_type or ''} {self.entry.target_id or ''}".strip()

    @property
    def actor_label(self) -> str:
        """Who acted: an admin's address, `cli`, `self`, or `deleted #id` once erased."""
        actor = self.entry.actor
        if actor.endswith(ERASED_SUFFIX):
            return f"deleted #{actor.removeprefix('deleted-').removesuffix(ERASED_SUFFIX)}"
        return actor


@dataclass(frozen=True)
class UserDetail:
    user: UserRow
    entries: list[LedgerEntry]
    purchases: list[Purchase]
    generations: list[Generation]
    audit: list[AuditRow]


@dataclass(frozen=True)
class GenerationRow:
    generation: Generation
    email: str


@dataclass(frozen=True)
class PurchaseRow:
    purchase: Purchase
    email: str


@dataclass(frozen=True)
class ProviderUsage:
    provider: str
    generations: int
    succeeded: int
    failed: int
    total_tokens: int
    cost_usd: float
    average_ms: float | None


@dataclass(frozen=True)
class FailureReason:
    code: str
    count: int
    example: str | None


def _user_rows(session: Session, query: Any) -> list[UserRow]:
    return [
        UserRow(
            id=row.id,
            email=row.email,
            is_admin=row.is_admin,
            disabled_at=row.disabled_at,
            created_at=row.created_at,
            balance=row.balance or 0,
            held=row.held or 0,
            email_verified_at=row.email_verified_at,
            deleted_at=row.deleted_at,
        )
        for row in session.execute(query)
    ]


def _users_query(site_id: str) -> Any:
    return (
        select(
            User.id,
            User.email,
            User.is_admin,
            User.disabled_at,
            User.created_at,
            TokenAccount.balance,
            TokenAccount.held,
            User.email_verified_at,
            User.deleted_at,
        )
        .outerjoin(TokenAccount, TokenAccount.user_id == User.id)
        .where(User.site_id == site_id)
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_users(database: Database, site_id: str, q: str = "", page: int = 1) -> Page[UserRow]:
    """Users whose e-mail contains ``q`` (or whose id is ``q``), newest first."""
    query = _users_query(site_id)
    text = q.strip()
    if text:
        pattern = f"%{_escape_like(text)}%"
        matches = User.email.ilike(pattern, escape="\\")
        by_id = text.isdigit() and len(text) < 10  # beyond that it cannot be an id (int4)
        query = query.where(or_(matches, User.id == int(text)) if by_id else matches)
    page = max(page, 1)
    query = query.order_by(User.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    with database.session() as session:
        rows = _user_rows(session, query)
    return Page(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


def _audit_rows(entries: Any) -> list[AuditRow]:
    rows = []
    for entry in entries:
        try:
            details = json.loads(entry.details) if entry.details else {}
        except ValueError:
            details = {"raw": entry.details}
        rows.append(AuditRow(entry, details if isinstance(details, dict) else {"raw": details}))
    return rows


def user_detail(
    database: Database, site_id: str, user_id: int, limit: int = 100
) -> UserDetail | None:
    """One user of the site with their ledger, purchases, images and the actions about them."""
    with database.session() as session:
        found = _user_rows(session, _users_query(site_id).where(User.id == user_id))
        if not found:
            return None
        entries = session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.site_id == site_id, LedgerEntry.user_id == user_id)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
        purchases = list(
            session.scalars(
                select(Purchase)
                .where(Purchase.site_id == site_id, Purchase.user_id == user_id)
                .order_by(Purchase.created_at.desc())
                .limit(limit)
            )
        )
        generations = session.scalars(
            select(Generation)
            .where(Generation.site_id == site_id, Generation.user_id == user_id)
            .order_by(Generation.created_at.desc())
            .limit(20)
        )
        about_purchases = and_(
            AuditEntry.target_type == "purchase",
            AuditEntry.target_id.in_([p.id for p in purchases]),
        )
        about_user = and_(AuditEntry.target_type == "user", AuditEntry.target_id == str(user_id))
        audit = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.site_id == site_id, or_(about_user, about_purchases))
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
        return UserDetail(found[0], list(entries), purchases, list(generations), _audit_rows(audit))


def recent_generations(
    database: Database, site_id: str, *, failed_only: bool = False, limit: int = 100
) -> list[GenerationRow]:
    query = (
        select(Generation, User.id, User.email, User.deleted_at)
        .join(User, User.id == Generation.user_id)
        .where(Generation.site_id == site_id)
    )
    if failed_only:
        query = query.where(Generation.status == Status.FAILED)
    query = query.order_by(Generation.created_at.desc(), Generation.id).limit(limit)
    with database.session() as session:
        return [
            GenerationRow(g, user_label(user_id, email, deleted_at))
            for g, user_id, email, deleted_at in session.execute(query)
        ]


def failure_reasons(database: Database, site_id: str, days: int = 30) -> list[FailureReason]:
    """Why images failed lately, the most frequent reason first."""
    since = utcnow() - timedelta(days=days)
    code = func.coalesce(Generation.error_code, "unknown")
    query = (
        select(code.label("code"), func.count().label("count"), func.max(Generation.error))
        .where(
            Generation.site_id == site_id,
            Generation.status == Status.FAILED,
            Generation.created_at >= since,
        )
        .group_by(code)
        .order_by(func.count().desc(), code)
    )
    with database.session() as session:
        return [FailureReason(row[0], row[1], row[2]) for row in session.execute(query)]


def provider_usage(database: Database, site_id: str, days: int = 30) -> list[ProviderUsage]:
    """Images, outcomes, model tokens and estimated cost per provider, over ``days`` days."""
    since = utcnow() - timedelta(days=days)
    provider = func.coalesce(Generation.provider, "(not run)")
    query = (
        select(
            provider,
            func.count(),
            func.sum(case((Generation.status == Status.SUCCEEDED, 1), else_=0)),
            func.sum(case((Generation.status == Status.FAILED, 1), else_=0)),
            func.coalesce(func.sum(Generation.total_tokens), 0),
            func.coalesce(func.sum(Generation.cost_usd), 0.0),
            func.avg(Generation.duration_ms),
        )
        .where(Generation.site_id == site_id, Generation.created_at >= since)
        .group_by(provider)
        .order_by(func.count().desc(), provider)
    )
    with database.session() as session:
        return [
            ProviderUsage(
                provider=row[0],
                generations=int(row[1]),
                succeeded=int(row[2] or 0),
                failed=int(row[3] or 0),
                total_tokens=int(row[4] or 0),
                cost_usd=float(row[5] or 0.0),
                average_ms=float(row[6]) if row[6] is not None else None,
            )
            for row in session.execute(query)
        ]


def list_purchases(
    database: Database, site_id: str, *, status: str | None = None, page: int = 1
) -> Page[PurchaseRow]:
    query = (
        select(Purchase, User.id, User.email, User.deleted_at)
        .join(User, User.id == Purchase.user_id)
        .where(Purchase.site_id == site_id)
    )
    if status:
        query = query.where(Purchase.status == status)
    page = max(page, 1)
    query = (
        query.order_by(Purchase.created_at.desc(), Purchase.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    with database.session() as session:
        rows = [
            PurchaseRow(p, user_label(user_id, email, deleted_at))
            for p, user_id, email, deleted_at in session.execute(query)
        ]
    return Page(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


def audit_log(
    database: Database, site_id: str, *, action: str | None = None, page: int = 1
) -> Page[AuditRow]:
    """The site's admin actions, newest first."""
    query = select(AuditEntry).where(AuditEntry.site_id == site_id)
    if action:
        query = query.where(AuditEntry.action == action)
    page = max(page, 1)
    query = query.order_by(AuditEntry.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    with database.session() as session:
        rows = _audit_rows(session.scalars(query))
    return Page(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)
