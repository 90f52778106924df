"""The settings model: each bound lives on its field, and only the given mapping is read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from forkable.settings import Settings, SettingsError, load_settings


@pytest.mark.parametrize(
    ("field", "variable", "low", "high", "inside"),
    [
        ("job_lease_seconds", "FORKABLE_JOB_LEASE_SECONDS", "1", "3600", 0.5),
        ("alert_interval_seconds", "FORKABLE_ALERT_INTERVAL_SECONDS", "1", "86400", 0.5),
        ("sites_poll_seconds", "FORKABLE_SITES_POLL_SECONDS", "0", "3600", -1),
        ("body_timeout_seconds", "FORKABLE_BODY_TIMEOUT_SECONDS", "0.1", "3600", 0.05),
        ("workers", "FORKABLE_WORKERS", "1", "64", 65),
    ],
)
def test_the_loader_and_the_model_refuse_the_same_values(
    field: str, variable: str, low: str, high: str, inside: float
) -> None:
    assert getattr(load_settings({variable: low}), field) == float(low)
    assert getattr(load_settings({variable: high}), field) == float(high)
    with pytest.raises(ValidationError):
        Settings.model_validate({field: inside})
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: str(inside)})
    assert caught.value.problems[0].startswith(f"{variable} must be ")
    assert f"from {low} to {high}, not '{inside}'" in caught.value.problems[0]


def test_numbers_that_are_not_finite_are_refused() -> None:
    for wrong in ("nan", "inf"):
        with pytest.raises(SettingsError):
            load_settings({"FORKABLE_JOB_LEASE_SECONDS": wrong})


def test_only_the_mapping_given_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORKABLE_WORKERS", "7")
    monkeypatch.setenv("FORKABLE_ENV", "production")
    assert Settings().workers == 2
    assert load_settings({}).workers == 2
    assert load_settings({}).env == "development"
    assert load_settings().workers == 7  # no mapping: the process environment


def test_fields_are_set_by_name_in_code() -> None:
    settings = Settings(workers=3, alert_email_to=("a@example.com",), serverless=True)
    assert settings.workers == 3
    assert settings.media == "database"
    assert settings.inline_jobs


def test_choices_ignore_case_and_alerts_accept_yes_and_no() -> None:
    settings = load_settings(
        {"FORKABLE_ENV": "Production", "FORKABLE_MEDIA": "DATABASE", "FORKABLE_ALERTS": "yes"}
    )
    assert (settings.env, settings.media, settings.alerts) == ("production", "database", "on")
    assert load_settings({"FORKABLE_ALERTS": "0"}).alerts == "off"


def test_operator_emails_are_lowercased_and_checked_one_line_each() -> None:
    settings = load_settings({"FORKABLE_OPERATOR_EMAILS": "Ops@Example.com  b@example.com,"})
    assert settings.operator_emails == frozenset({"ops@example.com", "b@example.com"})
    with pytest.raises(SettingsError) as caught:
        load_settings({"FORKABLE_OPERATOR_EMAILS": "ops, a@example.com, nobody"})
    assert caught.value.problems == [
        "FORKABLE_OPERATOR_EMAILS: 'nobody' is not an e-mail address",
        "FORKABLE_OPERATOR_EMAILS: 'ops' is not an e-mail address",
    ]


def test_variables_that_need_a_companion_say_which() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"FORKABLE_PAYMENTS": "Stripe", "FORKABLE_ALERT_EMAIL_TO": "a@example.com"})
    assert caught.value.problems == [
        "FORKABLE_PAYMENTS=stripe needs STRIPE_SECRET_KEY",
        "FORKABLE_ALERT_EMAIL_TO is set but FORKABLE_ALERT_SMTP_URL is not",
    ]


def test_a_media_default_follows_the_host() -> None:
    assert load_settings({}).media == "local"
    assert load_settings({"VERCEL": "1"}).media == "database"
    assert load_settings({"VERCEL": "0"}).serverless is False
