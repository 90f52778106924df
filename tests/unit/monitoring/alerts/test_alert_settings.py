"""Alert settings from the environment: channels, switches, and one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.settings import SettingsError, load_settings


def test_alerts_are_off_until_a_channel_is_configured_or_they_are_switched_on() -> None:
    assert not load_settings({}).alerts_active
    assert load_settings({"FORKABLE_ALERTS": "on"}).alerts_active
    webhook = {"FORKABLE_ALERT_WEBHOOK_URL": "https://hooks.example.com/x"}
    assert load_settings(webhook).alerts_active
    assert not load_settings({**webhook, "FORKABLE_ALERTS": "off"}).alerts_active


def test_every_channel_variable_is_read() -> None:
    settings = load_settings(
        {
            "FORKABLE_ALERT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
            "FORKABLE_ALERT_SMTP_URL": "smtp://ops:secret@mail.example.com:587",
            "FORKABLE_ALERT_EMAIL_FROM": "alerts@example.com",
            "FORKABLE_ALERT_EMAIL_TO": "a@example.com, b@example.com",
            "TWILIO_ACCOUNT_SID": "AC123",
            "TWILIO_AUTH_TOKEN": "token",
            "TWILIO_FROM": "+15550001111",
            "FORKABLE_ALERT_SMS_TO": "+15550002222",
            "FORKABLE_TWILIO_API_BASE": "http://127.0.0.1:9",
            "FORKABLE_ALERT_RULES": "/etc/forkable/alerts.toml",
            "FORKABLE_ALERT_INTERVAL_SECONDS": "30",
        }
    )
    assert settings.alert_email_to == ("a@example.com", "b@example.com")
    assert settings.alert_sms_to == ("+15550002222",)
    assert settings.alert_rules == Path("/etc/forkable/alerts.toml")
    assert settings.alert_interval_seconds == 30
    assert settings.twilio_api_base == "http://127.0.0.1:9"
    assert settings.alerts_active


def test_half_configured_channels_are_refused_one_line_each() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "FORKABLE_ALERTS": "maybe",
                "FORKABLE_ALERT_INTERVAL_SECONDS": "0",
                "FORKABLE_ALERT_WEBHOOK_URL": "hooks.example.com",
                "FORKABLE_ALERT_SMTP_URL": "mail.example.com",
                "FORKABLE_ALERT_SMS_TO": "+15550002222",
                "TWILIO_ACCOUNT_SID": "AC123",
            }
        )
    assert caught.value.problems == [
        "FORKABLE_ALERTS must be 'on', 'off' or 'auto', not 'maybe'",
        "FORKABLE_ALERT_INTERVAL_SECONDS must be a number of seconds from 1 to 86400, not '0'",
        "FORKABLE_ALERT_WEBHOOK_URL must be an http(s) URL",
        "FORKABLE_ALERT_SMTP_URL must look like smtp://user:pass@host:587 (STARTTLS), "
        "smtps://user:pass@host:465 (TLS), or smtp://host:25 for a local relay",
        "FORKABLE_ALERT_SMTP_URL needs FORKABLE_ALERT_EMAIL_FROM and FORKABLE_ALERT_EMAIL_TO "
        "(comma-separated)",
        "FORKABLE_ALERT_SMS_TO needs TWILIO_AUTH_TOKEN, TWILIO_FROM",
    ]


def test_an_smtp_password_without_starttls_is_refused() -> None:
    environ = {
        "FORKABLE_ALERT_SMTP_URL": "smtp://ops:secret@mail.example.com:587?starttls=0",
        "FORKABLE_ALERT_EMAIL_FROM": "alerts@example.com",
        "FORKABLE_ALERT_EMAIL_TO": "ops@example.com",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert caught.value.problems == [
        "FORKABLE_ALERT_SMTP_URL: starttls=0 would send the SMTP password in clear; "
        "credentials go only over STARTTLS or smtps://"
    ]
    relay = {**environ, "FORKABLE_ALERT_SMTP_URL": "smtp://relay.internal:25?starttls=0"}
    assert load_settings(relay).alert_smtp_url == "smtp://relay.internal:25?starttls=0"
