"""The production guard: what must not reach real users, one line per problem."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from forkable.settings.errors import SettingsError
from forkable.settings.media_url import MediaFolder
from forkable.settings.payments import stripe_env_suffix

if TYPE_CHECKING:
    from forkable.settings.model import Settings

# Bearer tokens an operator sets (metrics scraper, cron) must be unguessable: 32 characters of
# `openssl rand -hex 16` already carry 128 random bits.
MIN_OPERATOR_TOKEN_LENGTH = 32


def production_problems(settings: Settings) -> list[str]:
    """Every reason this configuration must not serve real users, one line each."""
    if not settings.is_production:
        return []
    problems: list[str] = []
    if settings.payments == "demo":
        problems.append(
            "payments are in demo mode: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET "
            "(FORKABLE_PAYMENTS=demo is refused in production)"
        )
    elif not settings.stripe_webhook_secret and not settings.stripe_site_webhook_secrets:
        problems.append("STRIPE_WEBHOOK_SECRET is not set: webhooks could not be verified")
    if not settings.metrics_token:
        problems.append("FORKABLE_METRICS_TOKEN is not set: /metrics would be open to everyone")
    elif len(settings.metrics_token) < MIN_OPERATOR_TOKEN_LENGTH:
        problems.append(
            f"FORKABLE_METRICS_TOKEN is too short: use {MIN_OPERATOR_TOKEN_LENGTH} or more "
            "random characters (openssl rand -hex 32)"
        )
    if settings.cron_secret and len(settings.cron_secret) < MIN_OPERATOR_TOKEN_LENGTH:
        problems.append(
            f"CRON_SECRET is too short: use {MIN_OPERATOR_TOKEN_LENGTH} or more random "
            "characters (openssl rand -hex 32)"
        )
    if not settings.smtp_url:
        problems.append(
            "FORKABLE_SMTP_URL is not set: mail to users (address verification, password "
            "reset, receipts) could not be sent"
        )
    if settings.serverless and isinstance(settings.media_location, MediaFolder):
        problems.append(
            "a local media folder on a serverless host loses every photo: "
            "set FORKABLE_MEDIA_URL to db: or s3://bucket/prefix (or FORKABLE_MEDIA=database)"
        )
    if settings.serverless and settings.uses_sqlite:
        problems.append(
            "SQLite on a serverless host loses data: set FORKABLE_DATABASE_URL "
            "(or DATABASE_URL / POSTGRES_URL) to a PostgreSQL database"
        )
    return problems


def site_payment_problems(settings: Settings, site_ids: Iterable[str]) -> list[str]:
    """Production: each site served needs a Stripe key and its endpoint's webhook secret."""
    if not settings.is_production or settings.payments != "stripe":
        return []
    ids = sorted(site_ids)
    problems: list[str] = []
    for site_id in ids:
        suffix = stripe_env_suffix(site_id)
        if not settings.stripe_secret_key_for(site_id):
            problems.append(
                f"site {site_id} has no Stripe secret key: set STRIPE_SECRET_KEY__{suffix} "
                "(or STRIPE_SECRET_KEY for every site)"
            )
        if not settings.stripe_webhook_secret_for(site_id):
            problems.append(
                f"site {site_id} has no Stripe webhook secret: set "
                f"STRIPE_WEBHOOK_SECRET__{suffix} to the signing secret of its endpoint"
            )
    known = {stripe_env_suffix(site_id) for site_id in ids}
    for prefix, overrides in (
        ("STRIPE_SECRET_KEY", settings.stripe_site_secret_keys),
        ("STRIPE_WEBHOOK_SECRET", settings.stripe_site_webhook_secrets),
    ):
        problems.extend(
            f"{prefix}__{suffix} names no site served here (sites: {', '.join(ids)})"
            for suffix in sorted(set(overrides) - known)
        )
    return problems


def shared_limits_problem(settings: Settings, *, more_than_one_process: bool) -> str | None:
    """Production with several processes needs Redis for its limits: the problem in one line.

    ``more_than_one_process`` is the caller's to know: `serve --workers N` with N > 1,
    `serve --no-jobs` (its jobs run in `forkable worker` processes) or a worker (which runs
    beside at least one web process). Rate limits and login throttles kept in process memory
    count only what that process saw, so N processes let up to N times each limit through.
    """
    if not settings.is_production or not more_than_one_process or settings.redis_url:
        return None
    return (
        "FORKABLE_REDIS_URL is required in production with more than one process "
        "(--workers > 1, --no-jobs or forkable worker): rate limits and login throttles "
        "must be shared"
    )


def check_production(settings: Settings) -> None:
    """Refuse to start in production when a development default would be used."""
    problems = production_problems(settings)
    if problems:
        raise SettingsError(problems)
