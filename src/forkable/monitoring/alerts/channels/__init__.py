"""Where notices go: Slack, a JSON webhook, e-mail, SMS; built from the settings."""

from __future__ import annotations

from forkable.monitoring.alerts.channels.base import Alert, Channel, ChannelError, Delivery, deliver
from forkable.monitoring.alerts.channels.email import EmailChannel
from forkable.monitoring.alerts.channels.slack import SlackChannel
from forkable.monitoring.alerts.channels.sms import TwilioChannel
from forkable.monitoring.alerts.channels.webhook import WebhookChannel
from forkable.settings import Settings

__all__ = ["Alert", "Channel", "ChannelError", "Delivery", "configured_channels", "deliver"]


class BrokenChannel:
    """A channel whose configuration cannot work: every send reports why."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem

    def send(self, alert: Alert) -> None:
        raise ChannelError(self.problem)


def configured_channels(settings: Settings, *, timeout: float = 10.0) -> list[Channel]:
    """One channel per configured destination, in a fixed order."""
    try:
        return _channels(settings, timeout)
    except ChannelError as exc:
        # Only the e-mail URL is parsed here; the others still deserve to be tried.
        fallback = settings.model_copy(update={"alert_smtp_url": None})
        return [*_channels(fallback, timeout), BrokenChannel("email", str(exc))]


def _channels(settings: Settings, timeout: float) -> list[Channel]:
    channels: list[Channel] = []
    if settings.alert_slack_webhook_url:
        channels.append(SlackChannel(settings.alert_slack_webhook_url, timeout=timeout))
    if settings.alert_webhook_url:
        channels.append(WebhookChannel(settings.alert_webhook_url, timeout=timeout))
    if settings.alert_smtp_url and settings.alert_email_from and settings.alert_email_to:
        channels.append(
            EmailChannel(
                settings.alert_smtp_url,
                sender=settings.alert_email_from,
                recipients=settings.alert_email_to,
                timeout=timeout,
            )
        )
    if (
        settings.alert_sms_to
        and settings.twilio_account_sid
        and settings.twilio_auth_token
        and settings.twilio_from
    ):
        channels.append(
            TwilioChannel(
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token,
                sender=settings.twilio_from,
                recipients=settings.alert_sms_to,
                api_base=settings.twilio_api_base,
                timeout=timeout,
            )
        )
    return channels
