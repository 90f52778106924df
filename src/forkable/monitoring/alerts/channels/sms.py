"""SMS through Twilio's REST API: one form-encoded POST per recipient, answered with 201."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from forkable.monitoring.alerts.channels.base import Alert, ChannelError, describe, http_send

TWILIO_API = "https://api.twilio.com"
# Long texts are split into billed segments; a page needs the headline, not the essay.
_MAX_BODY = 320


def sms_text(alert: Alert) -> str:
    """The headline, then the runbook's link; a long headline is cut, never the link."""
    link = f" Runbook: {alert.runbook}" if alert.runbook else ""
    room = _MAX_BODY - len(link)
    headline = f"{alert.title()}: {alert.summary}"
    if len(headline) > room:
        headline = headline[: room - 1] + "…"
    return headline + link


class TwilioChannel:
    name = "sms"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        recipients: Sequence[str],
        api_base: str | None = None,
        timeout: float = 10.0,
        retry_delay: float = 1.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.recipients = tuple(recipients)
        self.url = (
            f"{(api_base or TWILIO_API).rstrip('/')}"
            f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        )
        self.timeout = timeout
        self.retry_delay = retry_delay

    def send(self, alert: Alert) -> None:
        body = sms_text(alert)
        failures = [
            f"{number}: {error}"
            for number in self.recipients
            if (error := self._send_one(number, body)) is not None
        ]
        if failures:
            raise ChannelError("; ".join(failures))

    def _send_one(self, number: str, body: str) -> str | None:
        form = {"To": number, "From": self.sender, "Body": body}
        auth = httpx.BasicAuth(self.account_sid, self.auth_token)
        try:
            response = http_send(
                lambda client: client.post(self.url, data=form, auth=auth),
                timeout=self.timeout,
                retry_delay=self.retry_delay,
            )
        except ChannelError as exc:
            return str(exc)
        if response.status_code == 201:
            return None
        try:
            # Twilio explains refusals in JSON: {"code": 21211, "message": "..."}.
            detail = response.json()
            return f"HTTP {response.status_code}: {detail['message']} (code {detail['code']})"
        except (ValueError, KeyError, TypeError):
            return describe(response)
