"""`forkable payments reconcile`: credit paid sessions that no webhook credited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

from forkable.asgi import default_sites_path, open_registry
from forkable.cli.context import open_database
from forkable.cli.output import fail
from forkable.payments.accounts import stripe_accounts
from forkable.payments.gateway import PaymentProviderError
from forkable.payments.receipts import send_receipts
from forkable.payments.service import reconcile
from forkable.settings import load_settings

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``3d``, ``12h``, ``90m`` ago, or an ISO date or time (UTC if no zone is given)."""
    current = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        return current - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"--since {text!r}: use a duration like 3d or 12h, or a date like 2026-11-01")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_reconcile(since_text: str) -> None:
    settings = load_settings()
    accounts = stripe_accounts(settings)
    if accounts is None:
        fail("payments are not in Stripe mode: set STRIPE_SECRET_KEY (nothing to reconcile)")
    since = parse_since(since_text)
    # The receipts of what it credits are composed in each site's brand: the sites served
    # (FORKABLE_SITES, or the site in the current folder).
    registry = open_registry((settings.sites_path or default_sites_path()).resolve())
    counts: dict[str, int] = {}
    with open_database() as database:
        send_receipts(database, registry)
        try:
            # Each Stripe account (the shared key, and each site's own) lists its own sessions.
            rows = (
                row
                for account in accounts.accounts()
                for row in reconcile(database, account, since)
            )
            for row in rows:
                counts[row.outcome] = counts.get(row.outcome, 0) + 1
                if row.outcome == "credited":
                    typer.echo(f"credited purchase {row.purchase_id} (session {row.session_id})")
                elif row.outcome == "unknown_purchase":
                    typer.echo(f"skipped session {row.session_id}: no purchase of ours")
        except PaymentProviderError as exc:
            fail(str(exc))
    summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
    typer.echo(
        f"reconciled paid sessions since {since:%Y-%m-%d %H:%M} UTC: {summary or 'none found'}"
    )
