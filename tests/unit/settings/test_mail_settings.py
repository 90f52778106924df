"""FORKABLE_SMTP_URL and FORKABLE_MAIL_FROM: read, checked, and named in their errors."""

from __future__ import annotations

import pytest

from forkable.settings import SettingsError, load_settings


def test_mail_goes_to_files_unless_an_smtp_url_is_set() -> None:
    settings = load_settings({})
    assert (settings.smtp_url, settings.mail_from) == (None, None)
    settings = load_settings(
        {
            "FORKABLE_SMTP_URL": "smtp://mailer:pw@smtp.example.com:587",
            "FORKABLE_MAIL_FROM": "hello@forks.example.net",
        }
    )
    assert settings.smtp_url == "smtp://mailer:pw@smtp.example.com:587"
    assert settings.mail_from == "hello@forks.example.net"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mail.example.com:587", "FORKABLE_SMTP_URL must look like smtp://user:pass@host:587"),
        ("smtp://", "FORKABLE_SMTP_URL must look like smtp://user:pass@host:587"),
        ("smtp://mail.example.com:port", "FORKABLE_SMTP_URL has an invalid port"),
        (
            "smtp://u:p@mail.example.com:587?starttls=0",
            "FORKABLE_SMTP_URL: starttls=0 would send the SMTP password in clear",
        ),
    ],
)
def test_a_bad_smtp_url_is_refused_naming_its_variable(url: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"FORKABLE_SMTP_URL": url})
    [problem] = caught.value.problems
    assert problem.startswith(says)


def test_the_alert_smtp_url_errors_name_their_own_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "FORKABLE_ALERT_SMTP_URL": "http://mail.example.com",
                "FORKABLE_ALERT_EMAIL_FROM": "alerts@example.com",
                "FORKABLE_ALERT_EMAIL_TO": "ops@example.com",
            }
        )
    [problem] = caught.value.problems
    assert problem.startswith("FORKABLE_ALERT_SMTP_URL must look like smtp://")


@pytest.mark.parametrize("sender", ["no-reply", "Site <no-reply@example.com>", "a b@example.com"])
def test_mail_from_is_a_bare_address(sender: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"FORKABLE_MAIL_FROM": sender})
    [problem] = caught.value.problems
    assert problem.startswith("FORKABLE_MAIL_FROM must be a bare address")
