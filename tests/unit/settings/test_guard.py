"""The production guard: what must not reach real users, one line per problem."""

from __future__ import annotations

import pytest

from forkable.settings import (
    SettingsError,
    check_production,
    load_settings,
    site_payment_problems,
)

PRODUCTION_OK = {
    "FORKABLE_ENV": "production",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "FORKABLE_METRICS_TOKEN": "metrics-token-" + "m" * 18,
    "FORKABLE_DATABASE_URL": "postgresql://u@db/forkable",
}


def test_production_with_everything_set_starts() -> None:
    check_production(load_settings(PRODUCTION_OK))


def test_production_guard_lists_every_problem() -> None:
    settings = load_settings({"FORKABLE_ENV": "production", "VERCEL": "1"})
    with pytest.raises(SettingsError) as caught:
        check_production(settings)
    problems = caught.value.problems
    assert len(problems) == 3
    assert any(p.startswith("payments are in demo mode") for p in problems)
    assert any(p.startswith("FORKABLE_METRICS_TOKEN is not set") for p in problems)
    assert any(p.startswith("SQLite on a serverless host") for p in problems)
    assert all("\n" not in p for p in problems)


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
