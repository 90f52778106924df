"""Buying packs: checkout, purchases, the Stripe webhook, demo checkout."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from forkable.payments import service
from forkable.payments.accounts import same_account
from forkable.payments.gateway import PaymentProviderError
from forkable.payments.models import Purchase
from forkable.payments.webhooks import InvalidWebhook, handle_event, verify
from forkable.ratelimit import per_seconds
from forkable.web.api.schemas import BODY, IdPath, errors
from forkable.web.auth import SESSION_REQUIRED, CurrentUser, SessionUser
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError, refused

router = APIRouter(tags=["payments"])

# The success page polls; ask Stripe about one purchase at most this often.
_SYNC_LIMIT = per_seconds("purchase-sync", 1, 3)


class CheckoutIn(BaseModel):
    pack_id: str = Field(max_length=40)


class CheckoutOut(BaseModel):
    purchase_id: str
    checkout_url: str


class PurchaseOut(BaseModel):
    id: str
    pack_id: str
    pack_name: str
    tokens: int
    amount_cents: int
    currency: str
    status: str
    created_at: datetime
    paid_at: datetime | None


def purchase_out(purchase: Purchase) -> PurchaseOut:
    return PurchaseOut(
        id=purchase.id,
        pack_id=purchase.pack_id,
        pack_name=purchase.pack_name,
        tokens=purchase.tokens,
        amount_cents=purchase.amount_cents,
        currency=purchase.currency,
        status=purchase.status,
        created_at=purchase.created_at,
        paid_at=purchase.paid_at,
    )


def _return_base_url(request: Request, services: ServicesDep, site: SiteDep) -> str:
    # In production Stripe sends buyers back to the site's own domain, never to whatever host
    # (a preview deployment, a raw IP) the request happened to arrive on.
    if services.settings.is_production:
        return f"https://{site.manifest.site.domain}"
    return str(request.base_url)


@router.post(
    "/checkout",
    status_code=201,
    response_model=CheckoutOut,
    responses=errors(
        401,
        403,
        *BODY,
        422,
        502,
        said={
            403: SESSION_REQUIRED,
            422: "No such pack (or the body is not valid).",
            502: "Stripe did not answer: try again.",
        },
    ),
)
def checkout(
    body: CheckoutIn, request: Request, principal: SessionUser, services: ServicesDep, site: SiteDep
) -> CheckoutOut:
    """Start buying a pack; send the buyer to `checkout_url`."""
    try:
        started = service.start_checkout(
            services.database,
            services.payments,
            principal,
            site,
            body.pack_id,
            return_base_url=_return_base_url(request, services, site),
        )
    except service.UnknownPack:
        raise refused(service.UnknownPack, f"There is no pack {body.pack_id!r}.") from None
    except PaymentProviderError:
        message = "Payments are not available right now. Please try again."
        raise refused(PaymentProviderError, message) from None
    return CheckoutOut(purchase_id=started.purchase.id, checkout_url=started.checkout_url)


@router.get("/purchases", response_model=list[PurchaseOut], responses=errors(401))
def list_purchases(principal: CurrentUser, services: ServicesDep) -> list[PurchaseOut]:
    """Your purchases, newest first: the receipts."""
    return [purchase_out(p) for p in service.purchases_for(services.database, principal)]


@router.get("/purchases/{purchase_id}", response_model=PurchaseOut, responses=errors(401, 404, 422))
def get_purchase(purchase_id: IdPath, principal: CurrentUser, services: ServicesDep) -> PurchaseOut:
    """One purchase. While unpaid, this also asks Stripe, so a lost webhook still credits."""
    purchase = service.purchase_for(services.database, principal, purchase_id)
    if purchase is None:
        raise ApiError(404, "not_found", "No such purchase.")
    gateway = services.payments
    if gateway is not None and services.limiter.hit(_SYNC_LIMIT, purchase.id) is None:
        try:
            service.sync_purchase(services.database, gateway, purchase)
        except PaymentProviderError:
            pass  # the webhook or the next poll will do it
        purchase = service.purchase_for(services.database, principal, purchase_id) or purchase
    return purchase_out(purchase)


@router.post(
    "/demo/purchases/{purchase_id}/complete",
    response_model=PurchaseOut,
    responses=errors(
        401,
        403,
        404,
        422,
        said={403: SESSION_REQUIRED, 404: "No such purchase, or not in demo mode."},
    ),
)
def complete_demo_purchase(
    purchase_id: IdPath, principal: SessionUser, services: ServicesDep
) -> PurchaseOut:
    """Demo mode only: pay for a purchase instantly, with no real money."""
    if services.settings.payments != "demo":
        raise ApiError(404, "not_found", "No such purchase.")
    if service.complete_demo(services.database, principal, purchase_id) is None:
        raise ApiError(404, "not_found", "No such purchase.")
    purchase = service.purchase_for(services.database, principal, purchase_id)
    if purchase is None:
        raise ApiError(404, "not_found", "No such purchase.")
    return purchase_out(purchase)


@router.post(
    "/webhooks/stripe",
    responses=errors(
        400,
        404,
        *BODY,
        said={
            400: "The Stripe-Signature does not verify.",
            404: "Stripe webhooks are not configured here.",
        },
    ),
)
async def stripe_webhook(request: Request, services: ServicesDep, site: SiteDep) -> JSONResponse:
    """Stripe events, verified against the raw body with the signing secret of this site's
    endpoint (`STRIPE_WEBHOOK_SECRET__<SITE>`, else `STRIPE_WEBHOOK_SECRET`)."""
    settings = services.settings
    secret = settings.stripe_webhook_secret_for(site.id)
    if not secret:
        raise ApiError(404, "not_found", "Stripe webhooks are not configured here.")
    payload = await request.body()
    try:
        event = verify(payload, request.headers.get("stripe-signature"), secret)
    except InvalidWebhook as exc:
        services.metrics.record_webhook("invalid_signature")
        raise ApiError(400, "invalid_signature", f"Webhook rejected: {exc}") from None
    outcome = await run_in_threadpool(
        lambda: handle_event(services.database, event, holds=same_account(settings, site.id))
    )
    services.metrics.record_webhook(outcome.action)
    return JSONResponse({"received": True, "outcome": outcome.action})
