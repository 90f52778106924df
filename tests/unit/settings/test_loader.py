"""Settings from an environment mapping: fallback names, parsing, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.settings import SettingsError, load_settings


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
