"""A generic JSON webhook: POST `Alert.payload()`; any 2xx answer counts as delivered."""

from __future__ import annotations

from forkable.monitoring.alerts.channels.base import Alert, ChannelError, describe, http_send


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0, retry_delay: float = 1.0) -> None:
        self.url = url
        self.timeout = timeout
        self.retry_delay = retry_delay

    def send(self, alert: Alert) -> None:
        body = alert.payload()
        response = http_send(
            lambda client: client.post(self.url, json=body),
            timeout=self.timeout,
            retry_delay=self.retry_delay,
        )
        if not response.is_success:
            raise ChannelError(describe(response))
