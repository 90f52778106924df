"""Environment settings: fallbacks and the production guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.settings import SettingsError, check_production, load_settings

PRODUCTION_OK = {
    "FORKABLE_ENV": "production",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "FORKABLE_METRICS_TOKEN": "metrics-token-" + "m" * 18,
    "FORKABLE_DATABASE_URL": "postgresql://u@db/forkable",
}


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.env == "development"
    assert settings.data_dir == Path("var")
    assert settings.payments == "demo"
    assert settings.redis_url is None
    assert settings.uses_sqlite
    assert settings.resolved_database_url.endswith("/var/forkable.sqlite3")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"POSTGRES_URL": "postgres://a@h/p"}, "postgresql+psycopg://a@h/p"),
        (
            {"DATABASE_URL": "postgresql://a@h/d", "POSTGRES_URL": "postgres://a@h/p"},
            "postgresql+psycopg://a@h/d",
        ),
        (
            {"FORKABLE_DATABASE_URL": "sqlite:////tmp/x.db", "DATABASE_URL": "postgresql://a@h/d"},
            "sqlite:////tmp/x.db",
        ),
        ({"DATABASE_URL": "postgresql+psycopg://a@h/d"}, "postgresql+psycopg://a@h/d"),
    ],
)
def test_database_url_fallbacks(environ: dict[str, str], expected: str) -> None:
    assert load_settings(environ).resolved_database_url == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"KV_URL": "rediss://kv"}, "rediss://kv"),
        ({"REDIS_URL": "redis://r", "KV_URL": "rediss://kv"}, "redis://r"),
        ({"FORKABLE_REDIS_URL": "redis://f", "REDIS_URL": "redis://r"}, "redis://f"),
    ],
)
def test_redis_url_fallbacks(environ: dict[str, str], expected: str) -> None:
    assert load_settings(environ).redis_url == expected


def test_gemini_key_fallback_and_blank_values_ignored() -> None:
    assert load_settings({"GOOGLE_API_KEY": "g"}).gemini_api_key == "g"
    assert load_settings({"GEMINI_API_KEY": "a", "GOOGLE_API_KEY": "g"}).gemini_api_key == "a"
    assert load_settings({"GEMINI_API_KEY": "  ", "GOOGLE_API_KEY": "g"}).gemini_api_key == "g"


def test_payments_follow_the_stripe_key() -> None:
    assert load_settings({"STRIPE_SECRET_KEY": "sk_test_x"}).payments == "stripe"
    assert (
        load_settings({"STRIPE_SECRET_KEY": "sk_test_x", "FORKABLE_PAYMENTS": "demo"}).payments
        == "demo"
    )


def test_invalid_values_are_reported_together() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {"FORKABLE_ENV": "staging", "FORKABLE_PAYMENTS": "paypal", "FORKABLE_WORKERS": "lots"}
        )
    assert len(caught.value.problems) == 3
    assert "FORKABLE_ENV must be" in caught.value.problems[0]


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


def test_trusted_proxies() -> None:
    assert load_settings({}).trusted_proxies == ("127.0.0.1",)
    assert load_settings({"FORKABLE_TRUSTED_PROXIES": " "}).trusted_proxies == ("127.0.0.1",)
    settings = load_settings(
        {"FORKABLE_TRUSTED_PROXIES": "10.0.0.0/8, 172.18.0.1,::1, fd00::/8,192.168.1.7/24"}
    )
    assert settings.trusted_proxies == (
        "10.0.0.0/8",
        "172.18.0.1",
        "::1",
        "fd00::/8",
        "192.168.1.0/24",
    )


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"FORKABLE_TRUSTED_PROXIES": "127.0.0.1,proxy.internal,*,10.0.0.0/33"})
    assert error.value.problems == [
        "FORKABLE_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network",
        "FORKABLE_TRUSTED_PROXIES: '*' is not an IP address or network (to trust every peer, "
        "which lets any client pick its address, write 0.0.0.0/0,::/0)",
        "FORKABLE_TRUSTED_PROXIES: '10.0.0.0/33' is not an IP address or network",
    ]


def test_body_timeout_is_read_and_checked() -> None:
    assert load_settings({}).body_timeout_seconds == 30
    assert load_settings({"FORKABLE_BODY_TIMEOUT_SECONDS": "2.5"}).body_timeout_seconds == 2.5
    for wrong in ("0", "-1", "soon", "nan", "99999"):
        with pytest.raises(SettingsError) as caught:
            load_settings({"FORKABLE_BODY_TIMEOUT_SECONDS": wrong})
        assert caught.value.problems == [
            "FORKABLE_BODY_TIMEOUT_SECONDS must be a number of seconds from 0.1 to 3600, "
            f"not {wrong!r}"
        ]


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


def test_a_site_may_name_its_own_stripe_key_and_webhook_secret() -> None:
    settings = load_settings(
        {
            "STRIPE_SECRET_KEY": "sk_shared",
            "STRIPE_WEBHOOK_SECRET": "whsec_shared",
            "STRIPE_SECRET_KEY__PET_PIX": "sk_petpix",
            "STRIPE_WEBHOOK_SECRET__PET_PIX": "whsec_petpix",
            "STRIPE_WEBHOOK_SECRET__COLORINGBOOK": "  ",  # blank: unset
        }
    )
    assert settings.stripe_secret_key_for("pet-pix") == "sk_petpix"
    assert settings.stripe_webhook_secret_for("pet-pix") == "whsec_petpix"
    assert settings.stripe_secret_key_for("coloringbook") == "sk_shared"
    assert settings.stripe_webhook_secret_for("coloringbook") == "whsec_shared"


def test_per_site_stripe_keys_alone_mean_stripe_payments() -> None:
    settings = load_settings({"STRIPE_SECRET_KEY__COLORINGBOOK": "sk_c"})
    assert settings.payments == "stripe"
    assert settings.stripe_secret_key_for("coloringbook") == "sk_c"
    assert settings.stripe_secret_key_for("pencilsketch") is None
    explicit = {"FORKABLE_PAYMENTS": "stripe", "STRIPE_SECRET_KEY__COLORINGBOOK": "sk_c"}
    assert load_settings(explicit).payments == "stripe"


def test_every_site_needs_its_stripe_secrets_in_production() -> None:
    environ = {
        **PRODUCTION_OK,
        "STRIPE_WEBHOOK_SECRET": "",
        "STRIPE_WEBHOOK_SECRET__COLORINGBOOK": "whsec_c",
    }
    settings = load_settings(environ)
    check_production(settings)
    assert settings.site_payment_problems(["coloringbook", "pet-pix"]) == [
        "site pet-pix has no Stripe webhook secret: set STRIPE_WEBHOOK_SECRET__PET_PIX to the "
        "signing secret of its endpoint"
    ]
    assert load_settings(environ | {"FORKABLE_ENV": ""}).site_payment_problems(["pet-pix"]) == []
