"""Slack through an incoming webhook: JSON `{text, blocks}`, answered with 200 `ok`."""

from __future__ import annotations

from typing import Any

from forkable.monitoring.alerts.channels.base import Alert, ChannelError, describe, http_send

_EMOJI = {"firing": ":rotating_light:", "reminder": ":bell:", "resolved": ":white_check_mark:"}


def _escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(alert: Alert) -> dict[str, Any]:
    """The webhook body: `text` for notifications and old clients, `blocks` for the layout."""
    emoji = _EMOJI.get(alert.kind, ":information_source:")
    details = f"*{_escape(alert.summary)}*"
    if alert.description:
        details += f"\n{_escape(alert.description)}"
    context = [f"severity: *{alert.severity}*", f"host: {_escape(alert.host)}"]
    if alert.kind != "test":
        context.insert(1, f"since: {alert.since:%Y-%m-%d %H:%M} UTC")
    if alert.runbook:
        context.append(f"runbook: {_escape(alert.runbook)}")
    return {
        "text": f"{emoji} {alert.title()}: {alert.summary}",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": f"{alert.title()}"[:150], "emoji": True},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": details[:3000]}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": item} for item in context],
            },
        ],
    }


class SlackChannel:
    name = "slack"

    def __init__(self, url: str, *, timeout: float = 10.0, retry_delay: float = 1.0) -> None:
        self.url = url
        self.timeout = timeout
        self.retry_delay = retry_delay

    def send(self, alert: Alert) -> None:
        body = slack_message(alert)
        response = http_send(
            lambda client: client.post(self.url, json=body),
            timeout=self.timeout,
            retry_delay=self.retry_delay,
        )
        if response.status_code != 200 or response.text.strip() != "ok":
            raise ChannelError(describe(response))
