"""Stripe: the shared account, each site's own account, the payments mode."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator

from forkable.settings.fields import lowered, variable

PaymentsMode = Literal["stripe", "demo"]

# Variables named `<PREFIX>__<SITE>` that win over `<PREFIX>` for one site, by field.
PER_SITE_PREFIXES = {
    "stripe_site_secret_keys": "STRIPE_SECRET_KEY",
    "stripe_site_webhook_secrets": "STRIPE_WEBHOOK_SECRET",
}


def stripe_env_suffix(site_id: str) -> str:
    """How a site id appears in a per-site variable name: `pet-pix` -> `PET_PIX`."""
    return site_id.upper().replace("-", "_")


def _default_payments(earlier: dict[str, Any]) -> PaymentsMode:
    """Real payments as soon as a Stripe key is there, shared or a site's own."""
    has_key = earlier.get("stripe_secret_key") or earlier.get("stripe_site_secret_keys")
    return "stripe" if has_key else "demo"


class PaymentSettings(BaseModel):
    """Stripe: the shared account, each site's own account, the payments mode."""

    stripe_secret_key: str | None = variable(
        "STRIPE_SECRET_KEY", meaning="Stripe secret key of the account every site uses"
    )
    stripe_webhook_secret: str | None = variable(
        "STRIPE_WEBHOOK_SECRET", meaning="signing secret of the Stripe webhook endpoint"
    )
    # Per-site Stripe credentials, by `stripe_env_suffix(site id)`: STRIPE_SECRET_KEY__<SUFFIX>
    # and STRIPE_WEBHOOK_SECRET__<SUFFIX> win over the two above for that site.
    stripe_site_secret_keys: dict[str, str] = variable(
        "STRIPE_SECRET_KEY__<SITE>",
        meaning="one site's own Stripe key (site id upper-cased, `-` as `_`; see "
        "[payments](payments.md#several-sites-on-one-server))",
        default_factory=lambda _: {},
        shown_default="`STRIPE_SECRET_KEY`",
    )
    stripe_site_webhook_secrets: dict[str, str] = variable(
        "STRIPE_WEBHOOK_SECRET__<SITE>",
        meaning="the signing secret of one site's own webhook endpoint",
        default_factory=lambda _: {},
        shown_default="`STRIPE_WEBHOOK_SECRET`",
    )
    payments: Annotated[PaymentsMode, BeforeValidator(lowered)] = variable(
        "FORKABLE_PAYMENTS",
        meaning="`stripe` or `demo`",
        default_factory=_default_payments,
        shown_default="`stripe` when `STRIPE_SECRET_KEY` (or a per-site key) is set, else `demo`",
    )
    stripe_api_base: str | None = variable(
        "FORKABLE_STRIPE_API_BASE",
        meaning="point the Stripe client elsewhere (tests)",
        shown_default="Stripe's",
    )

    def stripe_secret_key_for(self, site_id: str) -> str | None:
        """The Stripe secret key of ``site_id``'s account: its own, else the shared one."""
        own = self.stripe_site_secret_keys.get(stripe_env_suffix(site_id))
        return own or self.stripe_secret_key

    def stripe_webhook_secret_for(self, site_id: str) -> str | None:
        """The signing secret of ``site_id``'s webhook endpoint: its own, else the shared one."""
        own = self.stripe_site_webhook_secrets.get(stripe_env_suffix(site_id))
        return own or self.stripe_webhook_secret


def payment_combination_problems(values: dict[str, Any]) -> list[str]:
    """Stripe payments asked for without a key, from the variables found."""
    explicit = str(values.get("FORKABLE_PAYMENTS", "")).lower()
    has_key = values.get("STRIPE_SECRET_KEY") or values.get("stripe_site_secret_keys")
    if explicit == "stripe" and not has_key:
        return ["FORKABLE_PAYMENTS=stripe needs STRIPE_SECRET_KEY"]
    return []
