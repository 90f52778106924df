"""Which Stripe account each site uses: one gateway per secret key, made on first use.

Sites share `STRIPE_SECRET_KEY` unless one names its own (`STRIPE_SECRET_KEY__<SITE>`, see
docs/payments.md). Sites with the same key are one Stripe account: its events concern all of
them, so a webhook verified for one of them may settle another's purchase; an account never
settles the purchases of another account.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from forkable.payments.gateway import PaymentProviderError, StripeGateway
from forkable.settings import Settings

SitePredicate = Callable[[str], bool]


@dataclass(frozen=True)
class Account:
    """One Stripe account of this server and the test for which sites' purchases it holds."""

    gateway: StripeGateway
    holds: SitePredicate


def same_account(settings: Settings, site_id: str) -> SitePredicate:
    """Whether a purchase of another site belongs to ``site_id``'s Stripe account."""
    key = settings.stripe_secret_key_for(site_id)
    return lambda other: settings.stripe_secret_key_for(other) == key


class StripeAccounts:
    """The gateways of this server's Stripe accounts, by site."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._gateways: dict[str, StripeGateway] = {}
        self._lock = threading.Lock()

    def for_site(self, site_id: str) -> StripeGateway:
        """The gateway of ``site_id``'s account; PaymentProviderError when it has no key."""
        key = self._settings.stripe_secret_key_for(site_id)
        if not key:
            raise PaymentProviderError(f"site {site_id} has no Stripe secret key")
        return self._gateway(key)

    def accounts(self) -> list[Account]:
        """Every account configured: the shared key's, then each site's own."""
        settings = self._settings
        keys = [settings.stripe_secret_key, *settings.stripe_site_secret_keys.values()]
        distinct = list(dict.fromkeys(key for key in keys if key))
        return [Account(self._gateway(key), self._holder(key)) for key in distinct]

    def _holder(self, key: str) -> SitePredicate:
        return lambda site_id: self._settings.stripe_secret_key_for(site_id) == key

    def _gateway(self, key: str) -> StripeGateway:
        with self._lock:
            gateway = self._gateways.get(key)
            if gateway is None:
                gateway = StripeGateway(key, api_base=self._settings.stripe_api_base)
                self._gateways[key] = gateway
            return gateway


def stripe_accounts(settings: Settings) -> StripeAccounts | None:
    """The accounts when payments go through Stripe; None means demo checkout."""
    if settings.payments != "stripe":
        return None
    if not settings.stripe_secret_key and not settings.stripe_site_secret_keys:
        return None
    return StripeAccounts(settings)
