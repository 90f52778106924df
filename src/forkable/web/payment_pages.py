"""Pages for buying tokens: the packs, our demo checkout, and the return from checkout."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from forkable.ledger.book import Balance, get_balance
from forkable.payments.models import Purchase
from forkable.payments.service import purchase_for
from forkable.web.auth import OptionalPrincipal
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError
from forkable.web.templating import render

router = APIRouter(include_in_schema=False)


def _balance(services: ServicesDep, user_id: int) -> Balance:
    with services.database.session() as session:
        return get_balance(session, user_id)


@router.get("/buy")
async def buy_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    context: dict[str, object] = {
        "principal": principal,
        "demo": services.settings.payments == "demo",
        "cancelled": bool(request.query_params.get("cancelled")),
        "selected": request.query_params.get("pack"),
    }
    if principal is not None:
        context["csrf_token"] = principal.csrf_token
        context["balance"] = await run_in_threadpool(_balance, services, principal.user_id)
    return render(request, "buy.html", site, context)


def _own_purchase(
    services: ServicesDep, principal: OptionalPrincipal, purchase_id: str
) -> Purchase:
    if principal is None:
        raise ApiError(404, "not_found", "No such purchase.")
    purchase = purchase_for(services.database, principal, purchase_id)
    if purchase is None:
        raise ApiError(404, "not_found", "No such purchase.")
    return purchase


@router.get("/buy/success")
def buy_success_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    purchase_id = request.query_params.get("purchase", "")
    if principal is None:
        return RedirectResponse(f"/login?next=/buy/success%3Fpurchase%3D{purchase_id}", 303)
    purchase = _own_purchase(services, principal, purchase_id)
    context = {
        "principal": principal,
        "csrf_token": principal.csrf_token,
        "purchase": purchase,
        "balance": _balance(services, principal.user_id),
    }
    return render(request, "buy_success.html", site, context)


@router.get("/buy/demo/{purchase_id}")
def demo_checkout_page(
    purchase_id: str,
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: OptionalPrincipal,
) -> Response:
    if services.settings.payments != "demo":
        raise ApiError(404, "not_found", "There is no demo checkout here.")
    if principal is None:
        return RedirectResponse(f"/login?next=/buy/demo/{purchase_id}", 303)
    purchase = _own_purchase(services, principal, purchase_id)
    context = {
        "principal": principal,
        "csrf_token": principal.csrf_token,
        "purchase": purchase,
        "balance": _balance(services, principal.user_id),
    }
    return render(request, "buy_demo.html", site, context)
