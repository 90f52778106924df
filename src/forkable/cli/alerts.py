"""`forkable alerts check`, `alerts test` and `alerts rules`."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

import typer
from sqlalchemy.exc import SQLAlchemyError

from forkable.asgi import default_sites_path, open_registry
from forkable.cli.output import fail
from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.db.types import utcnow
from forkable.monitoring.alerts.channels import Alert, configured_channels, deliver
from forkable.monitoring.alerts.evaluator import ERROR, Evaluator, Outcome
from forkable.monitoring.alerts.rule import format_duration
from forkable.monitoring.alerts.rules import load_rules
from forkable.monitoring.alerts.signals import SIGNALS, format_value
from forkable.monitoring.alerts.state import FIRING
from forkable.settings import load_settings

_CHANNEL_VARIABLES = (
    "FORKABLE_ALERT_SLACK_WEBHOOK_URL, FORKABLE_ALERT_WEBHOOK_URL, FORKABLE_ALERT_SMTP_URL "
    "or FORKABLE_ALERT_SMS_TO"
)


def run_check(path: Path | None, fail_if_firing: bool) -> int:
    """Evaluate once, notify, print each state; 1 if a rule or a notice failed, 2 if asked."""
    settings = load_settings()
    rules = load_rules(settings.alert_rules)
    registry = open_registry(path or settings.sites_path or default_sites_path())
    database = Database(settings.resolved_database_url)
    try:
        if database.is_sqlite:
            _migrate(database)
        evaluator = Evaluator(
            rules,
            database=database,
            sites=registry,
            data_dir=settings.data_dir,
            channels=configured_channels(settings),
        )
        outcomes = evaluator.evaluate()
    finally:
        database.dispose()
    _print_outcomes(outcomes)
    broken = any(o.state == ERROR for o in outcomes) or any(
        not d.ok for o in outcomes for d in o.deliveries
    )
    if broken:
        return 1
    return 2 if fail_if_firing and any(o.state == FIRING for o in outcomes) else 0


def _migrate(database: Database) -> None:
    """Bring the embedded SQLite up to date, as the other operator commands do."""
    try:
        upgrade(database)
    except SQLAlchemyError as exc:
        # Unreachable or broken: the rules that need it say so, readiness pages about it.
        typer.echo(f"warning: cannot migrate the database: {type(exc).__name__}", err=True)


def _print_outcomes(outcomes: Sequence[Outcome]) -> None:
    width = max((len(o.key) for o in outcomes), default=0)
    for outcome in outcomes:
        unit = SIGNALS[outcome.rule.signal].unit
        value = format_value(unit, outcome.value)
        typer.echo(f"{outcome.state:<8} {outcome.key:<{width}}  {value:>8}  {outcome.summary}")
        if outcome.notice is not None:
            sent = ", ".join(str(d) for d in outcome.deliveries) or "no channel configured"
            typer.echo(f"{'':<8} -> notified {outcome.notice.kind}: {sent}")


def run_test() -> int:
    """Send a test notice through every configured channel; one line each."""
    settings = load_settings()
    channels = configured_channels(settings)
    if not channels:
        fail(f"no alert channel is configured: set {_CHANNEL_VARIABLES}")
    now = utcnow()
    alert = Alert(
        kind="test",
        rule="test",
        severity="info",
        site_id=None,
        summary="A test alert from `forkable alerts test`: this channel works.",
        description="Nothing is wrong; an operator checked that alerts reach you.",
        value=None,
        threshold=None,
        since=now,
        at=now,
        host=socket.gethostname(),
    )
    results = deliver(channels, alert)
    for result in results:
        typer.echo(str(result))
    return 0 if all(result.ok for result in results) else 1


def run_rules() -> int:
    """Print the rules in effect: the shipped ones with this deployment's changes."""
    settings = load_settings()
    rules = load_rules(settings.alert_rules)
    width = max(len(rule.name) for rule in rules)
    for rule in rules:
        signal = SIGNALS[rule.signal]
        window = f"window {format_duration(rule.window)}" if signal.windowed else ""
        fields = [
            f"{rule.name:<{width}}",
            f"{rule.severity:<8}",
            f">= {format_value(signal.unit, rule.threshold):<8}",
            f"{window:<11}",
            f"for {format_duration(rule.for_seconds):<4}",
            f"cooldown {format_duration(rule.cooldown):<4}",
            "per site" if rule.per_site else "overall ",
        ]
        if rule.every:
            fields.append(f"every {format_duration(rule.every)}")
        if not rule.enabled:
            fields.append("(disabled)")
        typer.echo("  ".join(fields).rstrip())
    return 0
