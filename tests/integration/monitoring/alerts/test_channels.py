"""Each channel delivers to a real local server, retries once, and reports what went wrong."""

from __future__ import annotations

import base64
import dataclasses
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from tests.support.smtp import free_port, smtp_server

from forkable.db.types import utcnow
from forkable.monitoring.alerts.channels import Alert, ChannelError, configured_channels, deliver
from forkable.monitoring.alerts.channels.email import EmailChannel, parse_smtp_url
from forkable.monitoring.alerts.channels.slack import SlackChannel
from forkable.monitoring.alerts.channels.sms import TwilioChannel, sms_text
from forkable.monitoring.alerts.channels.webhook import WebhookChannel
from forkable.settings import Settings
from forkable.testing.http import LoopbackServer, RecordedRequest, Reply

NOW = utcnow().replace(microsecond=0)
ALERT = Alert(
    kind="firing",
    rule="job_queue_age",
    severity="critical",
    site_id="coloringbook",
    summary="the oldest of 3 queued generations has waited 7 min",
    description="How long the oldest queued generation has waited, in seconds.",
    value=420.0,
    threshold=300.0,
    since=NOW - timedelta(minutes=2),
    at=NOW,
    host="web-1",
    runbook="docs/runbooks/job_queue_age.md",
)


def answer(status: int, body: bytes = b"") -> LoopbackServer:
    return LoopbackServer(lambda _request: Reply(status, body))


def flaky(status: int, then: Reply) -> LoopbackServer:
    """Fails the first request with ``status``, then answers ``then``."""
    seen: list[RecordedRequest] = []

    def handle(request: RecordedRequest) -> Reply:
        seen.append(request)
        return Reply(status, b"upstream hiccup") if len(seen) == 1 else then

    return LoopbackServer(handle)


def test_slack_gets_text_and_blocks() -> None:
    with answer(200, b"ok") as slack:
        SlackChannel(f"{slack.url}/services/T0/B0/secret").send(ALERT)
    [request] = slack.recorded()
    assert (request.method, request.path) == ("POST", "/services/T0/B0/secret")
    body = request.json()
    assert body["text"] == (
        ":rotating_light: [FIRING] job_queue_age on coloringbook (critical): "
        "the oldest of 3 queued generations has waited 7 min"
    )
    header, section, context = body["blocks"]
    assert header["text"]["text"] == "[FIRING] job_queue_age on coloringbook (critical)"
    assert section["text"]["text"].startswith("*the oldest of 3 queued generations")
    assert context["elements"][0]["text"] == "severity: *critical*"
    assert context["elements"][-1]["text"] == "runbook: docs/runbooks/job_queue_age.md"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, b"no_service", "HTTP 404: no_service"),
        (200, b"invalid_payload", "HTTP 200: invalid_payload"),
    ],
)
def test_slack_refusals_are_reported(status: int, body: bytes, error: str) -> None:
    with answer(status, body) as slack:
        with pytest.raises(ChannelError) as caught:
            SlackChannel(slack.url).send(ALERT)
    assert str(caught.value) == error
    assert len(slack.recorded()) == 1  # a 4xx is not retried


def test_a_5xx_is_retried_once() -> None:
    with flaky(503, Reply(200, b"ok")) as slack:
        SlackChannel(slack.url, retry_delay=0.01).send(ALERT)
    assert len(slack.recorded()) == 2
    with answer(502, b"bad gateway") as hook, pytest.raises(ChannelError, match="HTTP 502"):
        WebhookChannel(hook.url, retry_delay=0.01).send(ALERT)
    assert len(hook.recorded()) == 2


def test_a_timeout_is_retried_once_then_reported() -> None:
    with LoopbackServer(lambda _r: Reply(200, b"ok", delay=2)) as slow:
        channel = WebhookChannel(slow.url, timeout=0.2, retry_delay=0.01)
        with pytest.raises(ChannelError) as caught:
            channel.send(ALERT)
        assert str(caught.value) == "no answer within 0.2 s (tried twice)"
        assert len(slow.recorded()) == 2


def test_the_generic_webhook_gets_the_documented_body() -> None:
    with answer(204) as hook:
        WebhookChannel(f"{hook.url}/alerts").send(ALERT)
    [request] = hook.recorded()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("forkable-alerts/")
    assert request.json() == {
        "version": 1,
        "status": "firing",
        "reminder": False,
        "rule": "job_queue_age",
        "severity": "critical",
        "site_id": "coloringbook",
        "summary": "the oldest of 3 queued generations has waited 7 min",
        "description": "How long the oldest queued generation has waited, in seconds.",
        "value": 420.0,
        "threshold": 300.0,
        "since": (NOW - timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
        "at": NOW.isoformat().replace("+00:00", "Z"),
        "host": "web-1",
        "runbook": "docs/runbooks/job_queue_age.md",
    }


def test_twilio_gets_one_form_post_per_number_with_basic_auth() -> None:
    created = Reply(
        201, b'{"sid": "SM1", "status": "queued"}', {"content-type": "application/json"}
    )
    with LoopbackServer(lambda _r: created) as twilio:
        TwilioChannel(
            account_sid="AC123",
            auth_token="tok",
            sender="+15550001111",
            recipients=["+15550002222", "+15550003333"],
            api_base=twilio.url,
        ).send(ALERT)
    requests = twilio.recorded()
    assert [r.path for r in requests] == ["/2010-04-01/Accounts/AC123/Messages.json"] * 2
    first = requests[0]
    assert first.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:tok").decode()
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(first.body.decode())
    assert form == {
        "To": ["+15550002222"],
        "From": ["+15550001111"],
        "Body": [
            "[FIRING] job_queue_age on coloringbook (critical): "
            "the oldest of 3 queued generations has waited 7 min"
            " Runbook: docs/runbooks/job_queue_age.md"
        ],
    }


def test_a_long_sms_cuts_the_headline_and_keeps_the_runbook_link() -> None:
    long_alert = dataclasses.replace(ALERT, summary="x" * 400)
    text = sms_text(long_alert)
    assert len(text) == 320
    assert text.endswith("… Runbook: docs/runbooks/job_queue_age.md")
    assert text.startswith("[FIRING] job_queue_age on coloringbook (critical): xxx")


def test_twilio_refusals_name_the_number_and_twilio_s_reason() -> None:
    refused = Reply(
        400,
        b'{"code": 21211, "message": "The \'To\' number is not a valid phone number."}',
        {"content-type": "application/json"},
    )
    with LoopbackServer(lambda _r: refused) as twilio:
        channel = TwilioChannel(
            account_sid="AC1", auth_token="t", sender="+1", recipients=["12"], api_base=twilio.url
        )
        with pytest.raises(ChannelError) as caught:
            channel.send(ALERT)
    assert str(caught.value) == (
        "12: HTTP 400: The 'To' number is not a valid phone number. (code 21211)"
    )


def test_email_reaches_a_real_smtp_server() -> None:
    with smtp_server() as (url, mailbox):
        EmailChannel(
            url, sender="alerts@example.com", recipients=["ops@example.com", "cto@example.com"]
        ).send(ALERT)
    [mail] = mailbox.received
    assert mail.mail_from == "alerts@example.com"
    assert mail.rcpt_tos == ["ops@example.com", "cto@example.com"]
    message = mail.message
    assert message["Subject"] == "[FIRING] job_queue_age on coloringbook (critical)"
    assert message["To"] == "ops@example.com, cto@example.com"
    assert message["X-Forkable-Alert"] == "job_queue_age; firing"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "the oldest of 3 queued generations has waited 7 min" in body.decode()
    assert "Host: web-1" in body.decode()
    assert "Runbook: docs/runbooks/job_queue_age.md" in body.decode()


def test_an_unreachable_smtp_server_is_reported_after_one_retry() -> None:
    port = free_port()
    channel = EmailChannel(
        f"smtp://127.0.0.1:{port}", sender="a@example.com", recipients=["b@example.com"]
    )
    channel.retry_delay = 0.01
    with pytest.raises(ChannelError) as caught:
        channel.send(ALERT)
    assert str(caught.value) == f"127.0.0.1:{port}: connection refused"


def test_smtp_urls() -> None:
    server = parse_smtp_url("smtp://ops%40example.com:p%3Ass@mail.example.com:587?starttls=1")
    assert (server.host, server.port, server.starttls, server.tls) == (
        "mail.example.com",
        587,
        True,
        False,
    )
    assert (server.username, server.password) == ("ops@example.com", "p:ss")
    implicit = parse_smtp_url("smtps://mail.example.com")
    assert (implicit.port, implicit.tls, implicit.starttls) == (465, True, False)
    with pytest.raises(ChannelError):
        parse_smtp_url("smtp://")


def test_delivery_reports_each_channel_and_never_raises() -> None:
    class Buggy:
        name = "buggy"

        def send(self, alert: Alert) -> None:
            raise KeyError("oops")

    with answer(200, b"ok") as slack, answer(500) as hook:
        results = deliver(
            [SlackChannel(slack.url), WebhookChannel(hook.url, retry_delay=0.01), Buggy()], ALERT
        )
    assert [str(r) for r in results] == [
        "slack: ok",
        "webhook: error: HTTP 500",
        "buggy: error: KeyError: 'oops'",
    ]


def test_channels_come_from_the_settings_in_a_fixed_order() -> None:
    settings = Settings(
        alert_slack_webhook_url="https://hooks.slack.com/x",
        alert_webhook_url="https://example.com/hook",
        alert_smtp_url="smtp://mail.example.com:587",
        alert_email_from="a@example.com",
        alert_email_to=("b@example.com",),
        twilio_account_sid="AC1",
        twilio_auth_token="t",
        twilio_from="+1",
        alert_sms_to=("+2",),
    )
    assert [c.name for c in configured_channels(settings)] == ["slack", "webhook", "email", "sms"]
    broken = settings.model_copy(update={"alert_smtp_url": "smtp://"})
    channels = configured_channels(broken)
    assert [c.name for c in channels] == ["slack", "webhook", "sms", "email"]
    assert str(deliver(channels[-1:], ALERT)[0]).startswith("email: error: FORKABLE_ALERT_SMTP_URL")
    assert configured_channels(Settings()) == []
