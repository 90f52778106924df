"""The production guard: what must not reach real users, one line per problem."""

from __future__ import annotations

import pytest

from forkable.settings import (
    SettingsError,
    check_production,
    load_settings,
    site_payment_problems,
)
from forkable.settings.guard import shared_limits_problem

PRODUCTION_OK = {
    "FORKABLE_ENV": "production",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "FORKABLE_METRICS_TOKEN": "metrics-token-" + "m" * 18,
    "FORKABLE_DATABASE_URL": "postgresql://u@db/forkable",
    "FORKABLE_SMTP_URL": "smtp://mailer:pw@smtp.example.com:587",
}


def test_production_with_everything_set_starts() -> None:
    check_production(load_settings(PRODUCTION_OK))


def test_production_guard_lists_every_problem() -> None:
    settings = load_settings({"FORKABLE_ENV": "production", "VERCEL": "1"})
    with pytest.raises(SettingsError) as caught:
        check_production(settings)
    problems = caught.value.problems
    assert len(problems) == 4
    assert any(p.startswith("payments are in demo mode") for p in problems)
    assert any(p.startswith("FORKABLE_SMTP_URL is not set") for p in problems)
    assert any(p.startswith("FORKABLE_METRICS_TOKEN is not set") for p in problems)
    assert any(p.startswith("SQLite on a serverless host") for p in problems)
    assert all("\n" not in p for p in problems)


def test_production_needs_smtp_for_mail_to_users() -> None:
    # Every site mails password resets, so production with sites cannot do without SMTP.
    environ = {**PRODUCTION_OK, "FORKABLE_SMTP_URL": ""}
    with pytest.raises(SettingsError) as caught:
        check_production(load_settings(environ))
    assert caught.value.problems == [
        "FORKABLE_SMTP_URL is not set: mail to users (address verification, password reset, "
        "receipts) could not be sent"
    ]
    check_production(load_settings({**PRODUCTION_OK, "FORKABLE_SMTP_URL": "smtp://relay:25"}))


def test_development_without_smtp_starts() -> None:
    check_production(load_settings({"FORKABLE_SMTP_URL": ""}))


def test_production_refuses_explicit_demo_payments() -> None:
    environ = {**PRODUCTION_OK, "FORKABLE_PAYMENTS": "demo"}
    with pytest.raises(SettingsError) as caught:
        check_production(load_settings(environ))
    assert len(caught.value.problems) == 1


def test_the_secret_key_is_not_required() -> None:
    # Sessions, CSRF and API keys are random 256-bit tokens stored as hashes: nothing is signed,
    # so a secret key would protect nothing (docs/operations.md). Setting one is harmless.
    assert "FORKABLE_SECRET_KEY" not in PRODUCTION_OK
    check_production(load_settings(PRODUCTION_OK))
    check_production(load_settings({**PRODUCTION_OK, "FORKABLE_SECRET_KEY": "short"}))


@pytest.mark.parametrize("name", ["FORKABLE_METRICS_TOKEN", "CRON_SECRET"])
def test_operator_tokens_need_32_characters_in_production(name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        check_production(load_settings({**PRODUCTION_OK, name: "x" * 31}))
    assert caught.value.problems == [
        f"{name} is too short: use 32 or more random characters (openssl rand -hex 32)"
    ]
    check_production(load_settings({**PRODUCTION_OK, name: "x" * 32}))


def test_short_operator_tokens_are_fine_in_development() -> None:
    settings = load_settings({"FORKABLE_METRICS_TOKEN": "m", "CRON_SECRET": "c"})
    check_production(settings)
    assert settings.metrics_token == "m"


def test_every_site_needs_its_stripe_secrets_in_production() -> None:
    environ = {
        **PRODUCTION_OK,
        "STRIPE_WEBHOOK_SECRET": "",
        "STRIPE_WEBHOOK_SECRET__COLORINGBOOK": "whsec_c",
    }
    settings = load_settings(environ)
    check_production(settings)
    assert site_payment_problems(settings, ["coloringbook", "pet-pix"]) == [
        "site pet-pix has no Stripe webhook secret: set STRIPE_WEBHOOK_SECRET__PET_PIX to the "
        "signing secret of its endpoint"
    ]
    assert site_payment_problems(load_settings(environ | {"FORKABLE_ENV": ""}), ["pet-pix"]) == []


SHARED_LIMITS_LINE = (
    "FORKABLE_REDIS_URL is required in production with more than one process "
    "(--workers > 1, --no-jobs or forkable worker): rate limits and login throttles "
    "must be shared"
)


def test_production_with_several_processes_and_no_redis_is_one_line() -> None:
    settings = load_settings(PRODUCTION_OK)
    assert shared_limits_problem(settings, more_than_one_process=True) == SHARED_LIMITS_LINE
    assert "\n" not in SHARED_LIMITS_LINE


@pytest.mark.parametrize("name", ["FORKABLE_REDIS_URL", "REDIS_URL", "KV_URL"])
def test_any_redis_variable_shares_the_limits(name: str) -> None:
    settings = load_settings({**PRODUCTION_OK, name: "redis://127.0.0.1:6379/0"})
    assert shared_limits_problem(settings, more_than_one_process=True) is None


def test_one_process_keeps_its_limits_in_memory() -> None:
    settings = load_settings(PRODUCTION_OK)
    assert shared_limits_problem(settings, more_than_one_process=False) is None


def test_development_with_several_processes_needs_no_redis() -> None:
    settings = load_settings({"FORKABLE_DATABASE_URL": "postgresql://u@db/forkable"})
    assert shared_limits_problem(settings, more_than_one_process=True) is None


def test_a_blank_redis_url_counts_as_unset() -> None:
    settings = load_settings({**PRODUCTION_OK, "FORKABLE_REDIS_URL": ""})
    assert shared_limits_problem(settings, more_than_one_process=True) == SHARED_LIMITS_LINE


def test_the_production_guard_alone_does_not_ask_for_redis() -> None:
    # How many processes share the limits is the command's to say, not the environment's.
    check_production(load_settings(PRODUCTION_OK))
