"""The admin console's pages under /admin: dashboard, users, generations, purchases, audit, sites.

Signed-out visitors are sent to log in; signed-in people who are not admins of this site get
403. Every query is scoped to the request's site; operators (see `forkable.admin.access`)
also get the sites list and a read-only dashboard of every site.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from forkable.accounts.service import Principal
from forkable.admin import queries
from forkable.admin.access import is_operator
from forkable.admin.charts import BarChart, Series, bar_chart
from forkable.admin.dashboard import Dashboard, dashboard
from forkable.admin.sites import overview
from forkable.payments.models import PurchaseStatus
from forkable.sites import Site
from forkable.web.api.schemas import PageQuery, UserIdPath
from forkable.web.auth import OptionalPrincipal, refuse_api_key
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError
from forkable.web.templating import format_money, render
from forkable.web.visitor import visitor_context

router = APIRouter(prefix="/admin", include_in_schema=False)

# What the `?done=` of a redirect after a successful form post says.
DONE_MESSAGES = {
    "grant": "Tokens granted. The audit log has a new row.",
    "revoke": "Tokens revoked. The audit log has a new row.",
    "disable": "Account disabled: the user was signed out everywhere and cannot log in.",
    "enable": "Account enabled: the user can log in again.",
    "resend-verification": "A new verification link is on its way to the user.",
    "refund": "Purchase refunded and its tokens clawed back.",
}
AUDIT_ACTIONS = (
    "tokens.grant",
    "tokens.revoke",
    "user.disable",
    "user.enable",
    "user.resend_verification",
    "user.delete",
    "purchase.refund",
)


async def admin_page_principal(principal: OptionalPrincipal) -> Principal | None:
    """The admin, None when signed out (the page redirects to login), 403 for anyone else.

    An API key, an admin's too, gets 403: its forms would skip the CSRF check, and only a
    session acts as admin.
    """
    if principal is not None:
        refuse_api_key(principal)
    if principal is not None and not principal.is_admin:
        raise ApiError(403, "forbidden", "Only administrators of this site can open this page.")
    return principal


AdminPage = Annotated[Principal | None, Depends(admin_page_principal)]


def to_login(request: Request, back_to: str | None = None) -> Response:
    """Off to log in, then back to ``back_to`` (a page; form posts name the page they were on)."""
    return RedirectResponse(f"/login?next={quote(back_to or request.url.path)}", status_code=303)


def usd(value: float) -> str:
    """Provider costs are fractions of a cent per image: show three decimals below $10."""
    return f"${value:,.3f}" if abs(value) < 10 else f"${value:,.2f}"


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f}%"


async def admin_context(
    request: Request, services: ServicesDep, principal: Principal, section: str
) -> dict[str, Any]:
    context = await visitor_context(services, principal)
    done = request.query_params.get("done", "")
    context.update(
        section=section,
        is_operator=is_operator(services.settings, principal),
        notice=DONE_MESSAGES.get(done),
        usd=usd,
        percent=percent,
        money=format_money,
    )
    return context


def dashboard_charts(board: Dashboard, currency: str) -> list[BarChart]:
    """The dashboard's four charts, oldest day on the left."""
    days = [d.day for d in board.days]

    def count(value: float) -> str:
        return f"{value:,.0f}"

    def cash(value: float) -> str:
        return format_money(round(value * 100), currency)

    ok = [d.generations - d.failures for d in board.days]
    return [
        bar_chart(
            "signups",
            "Sign-ups",
            days,
            [Series("sign-ups", "bar-a", [d.signups for d in board.days])],
            count,
        ),
        bar_chart(
            "generations",
            "Images and failures",
            days,
            [
                Series("images made", "bar-a", ok),
                Series("failed", "bar-fail", [d.failures for d in board.days]),
            ],
            count,
        ),
        bar_chart(
            "revenue",
            f"Revenue ({currency.upper()})",
            days,
            [Series("revenue", "bar-money", [d.revenue_cents / 100 for d in board.days])],
            cash,
            least=1.0,
        ),
        bar_chart(
            "cost",
            "Provider cost (USD)",
            days,
            [Series("provider cost", "bar-cost", [d.cost_usd for d in board.days])],
            usd,
            least=0.1,
        ),
    ]


async def _dashboard_page(
    request: Request, site: Site, services: ServicesDep, principal: Principal, shown: Site
) -> Response:
    currency = shown.manifest.pricing.currency
    board = await run_in_threadpool(dashboard, services.database, shown.id, currency)
    context = await admin_context(request, services, principal, "dashboard")
    context.update(
        shown=shown,
        read_only=shown.id != site.id,
        board=board,
        totals=board.totals,
        currency=currency,
        charts=dashboard_charts(board, currency),
        newest_first=list(reversed(board.days)),
    )
    return render(request, "admin/dashboard.html", site, context)


@router.get("")
async def dashboard_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: AdminPage
) -> Response:
    if principal is None:
        return to_login(request)
    return await _dashboard_page(request, site, services, principal, site)


@router.get("/users")
async def users_page(
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: AdminPage,
    q: Annotated[str, Query(max_length=254)] = "",
    page: PageQuery = 1,
) -> Response:
    if principal is None:
        return to_login(request)
    found = await run_in_threadpool(queries.search_users, services.database, site.id, q, page)
    context = await admin_context(request, services, principal, "users")
    context.update(q=q, result=found)
    return render(request, "admin/users.html", site, context)


async def user_page(
    request: Request,
    site: Site,
    services: ServicesDep,
    principal: Principal,
    user_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """One user; form posts that fail render it again with their error."""
    detail = await run_in_threadpool(queries.user_detail, services.database, site.id, user_id)
    if detail is None:
        raise ApiError(404, "not_found", "There is no such user on this site.")
    context = await admin_context(request, services, principal, "users")
    context.update(
        detail=detail,
        person=detail.user,
        error=error,
        is_self=detail.user.id == principal.user_id,
        refundable=PurchaseStatus.PAID.value,
    )
    return render(request, "admin/user.html", site, context, status_code=status_code)


@router.get("/users/{user_id}")
async def user_detail_page(
    user_id: UserIdPath,
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: AdminPage,
) -> Response:
    if principal is None:
        return to_login(request)
    return await user_page(request, site, services, principal, user_id)


@router.get("/generations")
async def generations_page(
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: AdminPage,
    failed: bool = False,
) -> Response:
    if principal is None:
        return to_login(request)
    database = services.database
    rows = await run_in_threadpool(
        lambda: queries.recent_generations(database, site.id, failed_only=failed)
    )
    reasons = await run_in_threadpool(queries.failure_reasons, database, site.id)
    usage = await run_in_threadpool(queries.provider_usage, database, site.id)
    context = await admin_context(request, services, principal, "generations")
    context.update(failed=failed, rows=rows, reasons=reasons, usage=usage)
    return render(request, "admin/generations.html", site, context)


async def purchases_page(
    request: Request,
    site: Site,
    services: ServicesDep,
    principal: Principal,
    *,
    status: str | None = None,
    page: int = 1,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The site's purchases; a refund that fails renders it again with its error."""
    database = services.database
    found = await run_in_threadpool(
        lambda: queries.list_purchases(database, site.id, status=status, page=page)
    )
    context = await admin_context(request, services, principal, "purchases")
    context.update(
        result=found,
        status=status or "",
        statuses=[s.value for s in PurchaseStatus],
        error=error,
        refundable=PurchaseStatus.PAID.value,
        stripe=services.payments is not None,
    )
    return render(request, "admin/purchases.html", site, context, status_code=status_code)


@router.get("/purchases")
async def purchases_list_page(
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: AdminPage,
    status: Annotated[str, Query(max_length=16)] = "",
    page: PageQuery = 1,
) -> Response:
    if principal is None:
        return to_login(request)
    return await purchases_page(
        request, site, services, principal, status=status or None, page=page
    )


@router.get("/audit")
async def audit_page(
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: AdminPage,
    action: Annotated[str, Query(max_length=64)] = "",
    page: PageQuery = 1,
) -> Response:
    if principal is None:
        return to_login(request)
    database = services.database
    found = await run_in_threadpool(
        lambda: queries.audit_log(database, site.id, action=action or None, page=page)
    )
    context = await admin_context(request, services, principal, "audit")
    context.update(result=found, action=action, actions=AUDIT_ACTIONS)
    return render(request, "admin/audit.html", site, context)


def _require_operator(services: ServicesDep, principal: Principal) -> None:
    if not is_operator(services.settings, principal):
        raise ApiError(
            403,
            "forbidden",
            "Only operators see every site. Operators are admins whose e-mail is listed in "
            "FORKABLE_OPERATOR_EMAILS.",
        )


@router.get("/sites")
async def sites_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: AdminPage
) -> Response:
    if principal is None:
        return to_login(request)
    _require_operator(services, principal)
    rows = await run_in_threadpool(overview, services.database, services.sites, services.resolver)
    context = await admin_context(request, services, principal, "sites")
    context.update(rows=rows)
    return render(request, "admin/sites.html", site, context)


@router.get("/sites/{site_id}")
async def site_dashboard_page(
    site_id: Annotated[str, Path(max_length=64)],
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: AdminPage,
) -> Response:
    """Another site's dashboard, read-only, for operators."""
    if principal is None:
        return to_login(request)
    _require_operator(services, principal)
    shown = services.sites.get(site_id)
    if shown is None:
        raise ApiError(404, "not_found", "This server serves no such site.")
    return await _dashboard_page(request, site, services, principal, shown)
