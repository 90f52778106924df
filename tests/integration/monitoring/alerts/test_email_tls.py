"""Alert mail sends SMTP credentials only over TLS: STARTTLS by default, smtps://, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.smtp import AuthAttempt, KeepLogins, smtp_server, smtp_tls_server
from tests.support.tls import LoopbackCertificate, make_loopback_certificate

from forkable.db.types import utcnow
from forkable.monitoring.alerts.channels import Alert, ChannelError
from forkable.monitoring.alerts.channels.email import EmailChannel, parse_smtp_url

NOW = utcnow().replace(microsecond=0)
ALERT = Alert(
    kind="test",
    rule="test",
    severity="info",
    site_id=None,
    summary="a test alert",
    description="",
    value=None,
    threshold=None,
    since=NOW,
    at=NOW,
    host="web-1",
)
LOGIN, PASSWORD = "ops@example.com", "s3cret-pa55"


def channel(url: str) -> EmailChannel:
    made = EmailChannel(url, sender="alerts@example.com", recipients=["ops@example.com"])
    made.retry_delay = 0.01
    return made


def with_credentials(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://ops%40example.com:{PASSWORD}@{rest}"


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoopbackCertificate:
    """A server certificate for 127.0.0.1 from a CA this process trusts (OpenSSL's variable)."""
    made = make_loopback_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(made.ca_file))
    return made


def test_credentials_are_not_sent_to_a_server_without_starttls() -> None:
    logins = KeepLogins(LOGIN, PASSWORD)
    # A badly configured server: AUTH offered in the clear, no STARTTLS.
    with smtp_server(logins=logins) as (url, mailbox):
        with pytest.raises(ChannelError) as caught:
            channel(with_credentials(url)).send(ALERT)
    assert "does not offer STARTTLS; refusing to send the SMTP password in clear" in str(
        caught.value
    )
    assert str(caught.value).startswith("127.0.0.1:")
    assert logins.attempts == []
    assert mailbox.received == []


def test_credentials_on_smtp_go_over_starttls_by_default(
    certificate: LoopbackCertificate,
) -> None:
    logins = KeepLogins(LOGIN, PASSWORD)
    with smtp_server(logins=logins, starttls=certificate.server_context()) as (url, mailbox):
        channel(with_credentials(url)).send(ALERT)
    assert logins.attempts == [AuthAttempt(LOGIN, PASSWORD, over_tls=True)]
    assert len(mailbox.received) == 1


def test_an_untrusted_certificate_stops_before_the_login(tmp_path: Path) -> None:
    untrusted = make_loopback_certificate(tmp_path)  # its CA is not trusted here
    logins = KeepLogins(LOGIN, PASSWORD)
    with smtp_server(logins=logins, starttls=untrusted.server_context()) as (url, mailbox):
        with pytest.raises(ChannelError, match="CERTIFICATE_VERIFY_FAILED"):
            channel(with_credentials(url)).send(ALERT)
    assert logins.attempts == []
    assert mailbox.received == []


def test_smtps_speaks_tls_from_the_first_byte(certificate: LoopbackCertificate) -> None:
    logins = KeepLogins(LOGIN, PASSWORD)
    with smtp_tls_server(certificate.server_context(), logins=logins) as (url, mailbox):
        assert url.startswith("smtps://")
        channel(with_credentials(url)).send(ALERT)
    assert logins.attempts == [AuthAttempt(LOGIN, PASSWORD, over_tls=True)]
    assert len(mailbox.received) == 1


def test_a_local_relay_without_credentials_is_spoken_to_in_the_clear() -> None:
    with smtp_server() as (url, mailbox):
        channel(url).send(ALERT)
    assert len(mailbox.received) == 1


def test_starttls_asked_for_without_credentials_is_required_too() -> None:
    with smtp_server() as (url, mailbox):
        with pytest.raises(
            ChannelError, match="does not offer STARTTLS; refusing to send in clear"
        ):
            channel(url + "?starttls=1").send(ALERT)
    assert mailbox.received == []


def test_smtp_urls_with_credentials_mean_starttls() -> None:
    server = parse_smtp_url("smtp://ops%40example.com:p%3Ass@mail.example.com:587")
    assert (server.starttls, server.tls, server.username, server.password) == (
        True,
        False,
        "ops@example.com",
        "p:ss",
    )
    relay = parse_smtp_url("smtp://relay.internal:25")
    assert (relay.starttls, relay.tls, relay.has_credentials) == (False, False, False)
    with pytest.raises(ChannelError, match="would send the SMTP password in clear"):
        parse_smtp_url("smtp://u:p@mail.example.com:587?starttls=0")
