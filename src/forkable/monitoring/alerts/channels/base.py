"""What a notice says, the channel protocol, delivery that never raises, HTTP with one retry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx

from forkable import __version__

logger = logging.getLogger(__name__)

Kind = Literal["firing", "reminder", "resolved", "test"]
USER_AGENT = f"forkable-alerts/{__version__}"
_LABELS = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED", "test": "TEST"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Alert:
    """One notice: an alert firing, still firing after its cool-down, resolved, or a test."""

    kind: Kind
    rule: str
    severity: str
    site_id: str | None
    summary: str
    description: str
    value: float | None
    threshold: float | None
    since: datetime
    at: datetime
    host: str
    # The page that says what to do (docs/runbooks/...); None for a test notice.
    runbook: str | None = None

    @property
    def label(self) -> str:
        return _LABELS[self.kind]

    def title(self) -> str:
        where = f" on {self.site_id}" if self.site_id else ""
        return f"[{self.label}] {self.rule}{where} ({self.severity})"

    def text(self) -> str:
        """The plain-text body used by e-mail and as Slack's fallback."""
        started = self.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [self.title(), self.summary, self.description]
        if self.kind == "resolved":
            lines.append(f"It had been firing since {started}.")
        elif self.kind != "test":
            lines.append(f"Since {started}.")
        lines.append(f"Host: {self.host}")
        if self.runbook:
            lines.append(f"Runbook: {self.runbook}")
        return "\n".join(line for line in lines if line)

    def payload(self) -> dict[str, Any]:
        """The generic webhook's JSON body (documented in docs/operations.md)."""
        return {
            "version": 1,
            "status": "firing" if self.kind == "reminder" else self.kind,
            "reminder": self.kind == "reminder",
            "rule": self.rule,
            "severity": self.severity,
            "site_id": self.site_id,
            "summary": self.summary,
            "description": self.description,
            "value": self.value,
            "threshold": self.threshold,
            "since": _iso(self.since),
            "at": _iso(self.at),
            "host": self.host,
            "runbook": self.runbook,
        }


class ChannelError(Exception):
    """A channel could not deliver; the message says why, in one line."""


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise ChannelError."""


@dataclass(frozen=True)
class Delivery:
    channel: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        return f"{self.channel}: ok" if self.ok else f"{self.channel}: error: {self.error}"


def deliver(channels: Iterable[Channel], alert: Alert) -> list[Delivery]:
    """Send ``alert`` through every channel; failures are reported, never raised."""
    results: list[Delivery] = []
    for channel in channels:
        try:
            channel.send(alert)
        except ChannelError as exc:
            results.append(Delivery(channel.name, str(exc)))
        except Exception as exc:  # a channel bug must not stop the evaluator or other channels
            logger.exception("alert channel %s failed unexpectedly", channel.name)
            results.append(Delivery(channel.name, f"{type(exc).__name__}: {exc}"))
        else:
            results.append(Delivery(channel.name))
    for result in results:
        if not result.ok:
            logger.warning(
                "alert %s not delivered by %s: %s",
                alert.rule,
                result.channel,
                result.error,
                extra={"event": "alert_delivery_failed", "channel": result.channel},
            )
    return results


def http_send(
    request: Callable[[httpx.Client], httpx.Response],
    *,
    timeout: float,
    retry_delay: float,
) -> httpx.Response:
    """Make ``request``; once more after a pause on a 5xx, a timeout or a connection error."""
    with httpx.Client(timeout=timeout, headers={"user-agent": USER_AGENT}) as client:
        for attempt in (1, 2):
            try:
                response = request(client)
            except httpx.TimeoutException:
                if attempt == 2:
                    raise ChannelError(f"no answer within {timeout:g} s (tried twice)") from None
            except httpx.TransportError as exc:
                if attempt == 2:
                    raise ChannelError(f"cannot connect: {exc} (tried twice)") from None
            else:
                if response.status_code < 500 or attempt == 2:
                    return response
            time.sleep(retry_delay)
    raise AssertionError("unreachable")  # pragma: no cover


def describe(response: httpx.Response) -> str:
    """`HTTP 404: no_service` with the first line of the body, for error messages."""
    body = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    return f"HTTP {response.status_code}" + (f": {body}" if body else "")
