"""Pages for buying tokens: the packs, our demo checkout, and the return from checkout."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from forkable.accounts.service import Principal
from forkable.payments.service import purchase_for
from forkable.web.auth import OptionalPrincipal
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError
from forkable.web.templating import render
from forkable.web.visitor import visitor_context

router = APIRouter(include_in_schema=False)


@router.get("/buy")
async def buy_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    context = await visitor_context(services, principal)
    context.update(
        demo=services.settings.payments == "demo",
        cancelled=bool(request.query_params.get("cancelled")),
        selected=request.query_params.get("pack"),
    )
    return render(request, "buy.html", site, context)


async def _purchase_page(
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: Principal,
    purchase_id: str,
    template: str,
) -> Response:
    purchase = await run_in_threadpool(purchase_for, services.database, principal, purchase_id)
    if purchase is None:
        raise ApiError(404, "not_found", "No such purchase.")
    context = await visitor_context(services, principal)
    context["purchase"] = purchase
    return render(request, template, site, context)


@router.get("/buy/success")
async def buy_success_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    """Where Stripe (or demo checkout) sends the buyer back; waits for the credit."""
    purchase_id = request.query_params.get("purchase", "")
    if principal is None:
        return RedirectResponse(f"/login?next=/buy/success%3Fpurchase%3D{purchase_id}", 303)
    return await _purchase_page(request, site, services, principal, purchase_id, "buy_success.html")


@router.get("/buy/demo/{purchase_id}")
async def demo_checkout_page(
    purchase_id: str,
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: OptionalPrincipal,
) -> Response:
    """Our stand-in for Stripe's checkout page, in demo mode only."""
    if services.settings.payments != "demo":
        raise ApiError(404, "not_found", "There is no demo checkout here.")
    if principal is None:
        return RedirectResponse(f"/login?next=/buy/demo/{purchase_id}", 303)
    return await _purchase_page(request, site, services, principal, purchase_id, "buy_demo.html")
