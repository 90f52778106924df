"""SMTP URLs: the forms, what credentials imply, and errors that name the variable."""

from __future__ import annotations

import pytest

from forkable.mail.smtp import SmtpUrlError, parse_smtp_url


def test_the_url_forms() -> None:
    submission = parse_smtp_url("smtp://mailer%40example.com:p%3Ass@smtp.example.com:587")
    assert (submission.host, submission.port, submission.starttls, submission.tls) == (
        "smtp.example.com",
        587,
        True,
        False,
    )
    assert (submission.username, submission.password) == ("mailer@example.com", "p:ss")
    implicit = parse_smtp_url("smtps://u:p@smtp.example.com")
    assert (implicit.port, implicit.tls, implicit.starttls) == (465, True, False)
    relay = parse_smtp_url("smtp://localhost:2525")
    assert (relay.port, relay.starttls, relay.has_credentials, str(relay)) == (
        2525,
        False,
        False,
        "localhost:2525",
    )
    assert parse_smtp_url("smtp://relay.internal?starttls=1").starttls


@pytest.mark.parametrize("variable", ["FORKABLE_SMTP_URL", "FORKABLE_ALERT_SMTP_URL"])
def test_errors_name_the_variable_the_url_came_from(variable: str) -> None:
    with pytest.raises(SmtpUrlError, match=f"^{variable} must look like smtp://"):
        parse_smtp_url("https://smtp.example.com", variable=variable)
    with pytest.raises(SmtpUrlError, match=f"^{variable} has an invalid port"):
        parse_smtp_url("smtp://smtp.example.com:99999", variable=variable)
    with pytest.raises(SmtpUrlError, match=f"^{variable}: starttls=0 would send"):
        parse_smtp_url("smtp://u:p@smtp.example.com?starttls=0", variable=variable)


def test_mail_to_users_is_the_default_variable() -> None:
    with pytest.raises(SmtpUrlError, match=r"^FORKABLE_SMTP_URL "):
        parse_smtp_url("smtp://")
