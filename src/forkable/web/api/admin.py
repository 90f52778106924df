"""`/api/v1/admin/...`: the admin console's data and actions for scripts (admins only).

Cookie requests carry `X-CSRF-Token` on every POST; API keys get 403 `session_required`, an
admin's too (`AdminUser`). Everything is scoped to the request's site: another site's user or
purchase is 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from forkable.admin import queries, service
from forkable.admin.access import is_operator
from forkable.admin.dashboard import dashboard
from forkable.admin.service import Actor, AdminError
from forkable.admin.sites import overview
from forkable.web.api.schemas import BODY, PageQuery, UserIdPath, errors
from forkable.web.auth import AdminUser
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError, refused

router = APIRouter(prefix="/admin", tags=["admin"])
P = ParamSpec("P")
R = TypeVar("R")

_SAID = {
    403: "Not an admin of this site, a cookie request without its X-CSRF-Token, or an API key "
    "(`session_required`): only a signed-in session acts as admin.",
    404: "No such user or purchase on this site.",
    409: "The action does not fit the current state (say, revoking more than is available).",
    422: "Out of range or not valid (ids from 1 to 2^31 - 1, pages up to 100,000).",
    502: "Stripe did not make the refund.",
}
_READ = errors(401, 403, 422, said=_SAID)
_ONE = errors(401, 403, 404, 422, said=_SAID)
_ACTION = errors(401, 403, 404, 409, *BODY, 422, said=_SAID)


class TokensIn(BaseModel):
    amount: int = Field(ge=1, le=service.MAX_TOKENS, description="Tokens, always positive.")
    reason: str = Field(max_length=service.MAX_REASON, description="Why; goes into the audit log.")


class ReasonIn(BaseModel):
    reason: str = Field(max_length=service.MAX_REASON, description="Why; goes into the audit log.")


class AdminUserOut(BaseModel):
    id: int
    email: str
    is_admin: bool
    disabled: bool
    created_at: datetime
    balance: int = Field(description="Tokens the user can spend; negative: they owe tokens.")
    held: int


class AdminEntryOut(BaseModel):
    id: int
    kind: str
    amount: int = Field(description="Change in spendable tokens.")
    balance_after: int
    ref: str
    reason: str | None
    actor: str | None
    created_at: datetime


class AdminUserDetailOut(AdminUserOut):
    ledger: list[AdminEntryOut]


class ActionOut(BaseModel):
    audit_id: int
    user_id: int
    balance: int | None = Field(default=None, description="Spendable tokens after the action.")


class PurchaseRowOut(BaseModel):
    id: str
    user_id: int
    email: str
    pack_id: str
    tokens: int
    amount_cents: int
    currency: str
    provider: str
    status: str
    created_at: datetime
    paid_at: datetime | None


class AuditOut(BaseModel):
    id: int
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    ip: str | None
    created_at: datetime


class DayOut(BaseModel):
    day: date
    signups: int
    generations: int
    failures: int
    revenue_cents: int
    cost_usd: float


class DashboardOut(BaseModel):
    site_id: str
    currency: str
    days: list[DayOut]
    margin_cents: int | None = Field(description="Revenue minus provider cost; null unless USD.")


class SiteOut(BaseModel):
    id: str
    name: str
    domain: str
    health: str
    health_detail: str
    alerts_firing: int
    today: DayOut


def _user_out(row: queries.UserRow) -> AdminUserOut:
    return AdminUserOut(
        id=row.id,
        email=row.email,
        is_admin=row.is_admin,
        disabled=row.disabled_at is not None,
        created_at=row.created_at,
        balance=row.available,
        held=row.held,
    )


def _actor(request: Request, principal: AdminUser) -> Actor:
    return Actor.from_principal(principal, request.client.host if request.client else None)


def _run(action: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run an admin action; its refusal becomes the API's error shape."""
    try:
        return action(*args, **kwargs)
    except AdminError as exc:
        raise refused(exc.reason, str(exc)) from None


def _purchase_out(row: queries.PurchaseRow) -> PurchaseRowOut:
    p = row.purchase
    return PurchaseRowOut(
        id=p.id,
        user_id=p.user_id,
        email=row.email,
        pack_id=p.pack_id,
        tokens=p.tokens,
        amount_cents=p.amount_cents,
        currency=p.currency,
        provider=p.provider,
        status=p.status,
        created_at=p.created_at,
        paid_at=p.paid_at,
    )


@router.get("/users", response_model=list[AdminUserOut], responses=_READ)
def list_users(
    principal: AdminUser,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=254)] = "",
    page: PageQuery = 1,
) -> list[AdminUserOut]:
    """Users of this site whose e-mail contains `q` (or whose id is `q`), newest first."""
    found = queries.search_users(services.database, principal.site_id, q, page)
    return [_user_out(row) for row in found.items]


@router.get("/users/{user_id}", response_model=AdminUserDetailOut, responses=_ONE)
def get_user(
    user_id: UserIdPath, principal: AdminUser, services: ServicesDep
) -> AdminUserDetailOut:
    """One user with their latest ledger entries."""
    detail = queries.user_detail(services.database, principal.site_id, user_id)
    if detail is None:
        raise ApiError(404, "not_found", "There is no such user on this site.")
    ledger = [
        AdminEntryOut(
            id=e.id,
            kind=e.kind,
            amount=e.available_delta,
            balance_after=e.available_after,
            ref=e.ref,
            reason=e.reason,
            actor=e.actor,
            created_at=e.created_at,
        )
        for e in detail.entries
    ]
    return AdminUserDetailOut(**_user_out(detail.user).model_dump(), ledger=ledger)


@router.post(
    "/users/{user_id}/grant",
    response_model=ActionOut,
    responses=errors(401, 403, 404, *BODY, 422, said=_SAID),
)
def grant(
    user_id: UserIdPath,
    body: TokensIn,
    request: Request,
    principal: AdminUser,
    services: ServicesDep,
) -> ActionOut:
    """Add tokens; a negative balance is settled first."""
    done = _run(
        service.grant_tokens,
        services.database,
        _actor(request, principal),
        user_id,
        body.amount,
        body.reason,
    )
    return ActionOut(audit_id=done.audit_id, user_id=done.user_id, balance=done.balance.available)


@router.post("/users/{user_id}/revoke", response_model=ActionOut, responses=_ACTION)
def revoke(
    user_id: UserIdPath,
    body: TokensIn,
    request: Request,
    principal: AdminUser,
    services: ServicesDep,
) -> ActionOut:
    """Take tokens back; 409 when the user has fewer available."""
    done = _run(
        service.revoke_tokens,
        services.database,
        _actor(request, principal),
        user_id,
        body.amount,
        body.reason,
    )
    return ActionOut(audit_id=done.audit_id, user_id=done.user_id, balance=done.balance.available)


@router.post("/users/{user_id}/disable", response_model=ActionOut, responses=_ACTION)
def disable(
    user_id: UserIdPath,
    body: ReasonIn,
    request: Request,
    principal: AdminUser,
    services: ServicesDep,
) -> ActionOut:
    """Block the account and sign it out everywhere at once."""
    done = _run(
        service.disable_user, services.database, _actor(request, principal), user_id, body.reason
    )
    return ActionOut(audit_id=done.audit_id, user_id=done.user_id)


@router.post("/users/{user_id}/enable", response_model=ActionOut, responses=_ACTION)
def enable(
    user_id: UserIdPath,
    body: ReasonIn,
    request: Request,
    principal: AdminUser,
    services: ServicesDep,
) -> ActionOut:
    """Let a disabled account sign in again."""
    done = _run(
        service.enable_user, services.database, _actor(request, principal), user_id, body.reason
    )
    return ActionOut(audit_id=done.audit_id, user_id=done.user_id)


@router.get("/purchases", response_model=list[PurchaseRowOut], responses=_READ)
def list_purchases(
    principal: AdminUser,
    services: ServicesDep,
    status: Annotated[str, Query(max_length=16)] = "",
    page: PageQuery = 1,
) -> list[PurchaseRowOut]:
    """This site's purchases, newest first, optionally of one status."""
    found = queries.list_purchases(
        services.database, principal.site_id, status=status or None, page=page
    )
    return [_purchase_out(row) for row in found.items]


@router.post(
    "/purchases/{purchase_id}/refund",
    response_model=ActionOut,
    responses=errors(401, 403, 404, 409, *BODY, 422, 502, said=_SAID),
)
def refund(
    purchase_id: Annotated[str, Path(max_length=64)],
    body: ReasonIn,
    request: Request,
    principal: AdminUser,
    services: ServicesDep,
) -> ActionOut:
    """Refund a paid pack (through Stripe for Stripe purchases) and claw its tokens back once."""
    done = _run(
        service.refund_purchase,
        services.database,
        services.payments,
        _actor(request, principal),
        purchase_id,
        body.reason,
    )
    return ActionOut(audit_id=done.audit_id, user_id=done.user_id, balance=done.balance.available)


@router.get("/audit", response_model=list[AuditOut], responses=_READ)
def audit(
    principal: AdminUser,
    services: ServicesDep,
    action: Annotated[str, Query(max_length=64)] = "",
    page: PageQuery = 1,
) -> list[AuditOut]:
    """Who did what, when, to whom: this site's admin actions, newest first."""
    found = queries.audit_log(
        services.database, principal.site_id, action=action or None, page=page
    )
    return [
        AuditOut(
            id=row.entry.id,
            actor=row.entry.actor,
            action=row.entry.action,
            target_type=row.entry.target_type,
            target_id=row.entry.target_id,
            details=row.details,
            ip=row.entry.ip,
            created_at=row.entry.created_at,
        )
        for row in found.items
    ]


@router.get("/dashboard", response_model=DashboardOut, responses=_READ)
def get_dashboard(
    principal: AdminUser,
    services: ServicesDep,
    site: SiteDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> DashboardOut:
    """Per-day numbers of this site (UTC days, oldest first)."""
    currency = site.manifest.pricing.currency
    board = dashboard(services.database, site.id, currency, days=days)
    return DashboardOut(
        site_id=site.id,
        currency=currency,
        days=[DayOut(**vars(day)) for day in board.days],
        margin_cents=board.totals.margin_cents,
    )


@router.get(
    "/sites",
    response_model=list[SiteOut],
    responses=errors(
        401, 403, said={403: "Not an operator (FORKABLE_OPERATOR_EMAILS) of this server."}
    ),
)
def sites(principal: AdminUser, services: ServicesDep) -> list[SiteOut]:
    """Operators only: every site of this server, its health and today's numbers."""
    if not is_operator(services.settings, principal):
        raise ApiError(
            403, "forbidden", "Only operators (FORKABLE_OPERATOR_EMAILS) see every site."
        )
    rows = overview(services.database, services.sites, services.resolver)
    return [
        SiteOut(
            id=row.id,
            name=row.site.manifest.site.name,
            domain=row.site.manifest.site.domain,
            health=row.health.status,
            health_detail=row.health.detail,
            alerts_firing=row.alerts_firing,
            today=DayOut(**vars(row.day)),
        )
        for row in rows
    ]
