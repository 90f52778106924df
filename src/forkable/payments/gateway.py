"""Stripe through the official SDK's `StripeClient`: Checkout Sessions and refunds.

The SDK is imported when a gateway is made, not with this module: it adds about 25 MB to a
process, which sites taking payments in demo mode (or not at all) never need.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import stripe


class PaymentProviderError(Exception):
    """Stripe could not be reached or refused the request; the message is for the operator."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    status: str | None  # open, complete, expired
    payment_status: str | None  # paid, unpaid, no_payment_required
    payment_intent: str | None
    client_reference_id: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_stripe(cls, stripe_object: Any) -> CheckoutSession:
        obj = stripe_object.to_dict() if hasattr(stripe_object, "to_dict") else dict(stripe_object)
        payment_intent = obj.get("payment_intent")
        if payment_intent is not None and not isinstance(payment_intent, str):
            payment_intent = payment_intent.get("id")
        return cls(
            id=obj["id"],
            url=obj.get("url"),
            status=obj.get("status"),
            payment_status=obj.get("payment_status"),
            payment_intent=payment_intent,
            client_reference_id=obj.get("client_reference_id"),
            metadata=dict(obj.get("metadata") or {}),
        )

    @property
    def purchase_id(self) -> str | None:
        return self.metadata.get("purchase_id") or self.client_reference_id


@dataclass(frozen=True)
class CheckoutRequest:
    purchase_id: str
    site_id: str
    user_id: int
    pack_id: str
    product_name: str
    amount_cents: int
    currency: str
    success_url: str
    cancel_url: str
    customer_email: str | None = None


@dataclass(frozen=True)
class Refund:
    id: str
    status: str | None  # succeeded, pending, failed, ...
    amount: int | None


class StripeGateway:
    """The calls forkable makes to Stripe, each with an explicit idempotency key."""

    def __init__(self, secret_key: str, *, api_base: str | None = None) -> None:
        base = {"api": api_base} if api_base else None
        import stripe  # here, not at the top: see the module docstring

        self._errors: type[stripe.StripeError] = stripe.StripeError
        # Retrying is safe: every create carries an idempotency key derived from the purchase.
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=2,
        )

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        metadata = {
            "site_id": request.site_id,
            "user_id": str(request.user_id),
            "purchase_id": request.purchase_id,
            "pack_id": request.pack_id,
        }
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": request.currency,
                        "unit_amount": request.amount_cents,
                        "product_data": {"name": request.product_name},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": request.purchase_id,
            "metadata": metadata,
            # Charges and disputes name the PaymentIntent: give it the same references.
            "payment_intent_data": {"metadata": metadata},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        try:
            session = self._client.v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"checkout:{request.purchase_id}"},
            )
        except self._errors as exc:
            raise PaymentProviderError(f"Stripe refused the checkout: {exc}") from exc
        return CheckoutSession.from_stripe(session)

    def retrieve(self, session_id: str) -> CheckoutSession:
        try:
            return CheckoutSession.from_stripe(
                self._client.v1.checkout.sessions.retrieve(session_id)
            )
        except self._errors as exc:
            raise PaymentProviderError(f"Stripe could not return {session_id}: {exc}") from exc

    def sessions_since(self, since: datetime) -> Iterator[CheckoutSession]:
        """Every Checkout Session created since ``since``, newest first, across pages."""
        try:
            page = self._client.v1.checkout.sessions.list(
                params={"created": {"gte": int(since.timestamp())}, "limit": 100}
            )
            for session in page.auto_paging_iter():
                yield CheckoutSession.from_stripe(session)
        except self._errors as exc:
            raise PaymentProviderError(f"Stripe could not list sessions: {exc}") from exc

    def refund(self, payment_intent_id: str, *, purchase_id: str) -> Refund:
        """Refund what is left of a PaymentIntent; retries for one purchase refund it once."""
        try:
            refund = self._client.v1.refunds.create(
                params={
                    "payment_intent": payment_intent_id,
                    "metadata": {"purchase_id": purchase_id},
                },
                options={"idempotency_key": f"refund:{purchase_id}"},
            )
        except self._errors as exc:
            message = exc.user_message or str(exc)
            raise PaymentProviderError(f"Stripe refused the refund: {message}") from exc
        return Refund(id=refund.id, status=refund.status, amount=refund.amount)
