"""Evaluate every rule, move its state, send the notices this evaluator won."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from forkable.db import Database
from forkable.db.types import utcnow
from forkable.monitoring.alerts.channels import Alert, Channel, Delivery, deliver
from forkable.monitoring.alerts.process import ProcessWindow, SignalSource
from forkable.monitoring.alerts.rule import Rule
from forkable.monitoring.alerts.signals import SIGNALS, Context, Reading, Readings, Unavailable
from forkable.monitoring.alerts.state import (
    FIRING,
    DatabaseStore,
    MemoryStore,
    Observation,
    StateStore,
    Transition,
)
from forkable.providers.resolver import ProviderResolver
from forkable.sites import SiteRegistry

logger = logging.getLogger(__name__)

UNAVAILABLE, ERROR = "n/a", "error"


@dataclass(frozen=True)
class Outcome:
    """One rule for one scope after an evaluation."""

    rule: Rule
    site_id: str | None
    state: str  # ok, pending, firing; n/a (not measurable here) or error
    value: float | None
    summary: str
    notice: Transition | None = None
    deliveries: tuple[Delivery, ...] = ()

    @property
    def key(self) -> str:
        return self.rule.key(self.site_id)


class Evaluator:
    """Rules, their signals, a state store and channels; `evaluate()` does one round."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        database: Database,
        sites: SiteRegistry,
        data_dir: Path,
        channels: Sequence[Channel] = (),
        resolver: ProviderResolver | None = None,
        process: SignalSource | None = None,
        clock: Callable[[], datetime] = utcnow,
        host: str | None = None,
    ) -> None:
        self.rules = [rule for rule in rules if rule.enabled]
        self.database = database
        self.sites = sites
        self.data_dir = data_dir
        self.channels = list(channels)
        self.resolver = resolver
        self.clock = clock
        self.host = host or socket.gethostname()
        self.store: StateStore = DatabaseStore(database)
        # Used only while the database cannot be reached, so a database outage still pages.
        self.fallback = MemoryStore()
        self.window: ProcessWindow | None = None
        if process is not None:
            longest = max((rule.window for rule in self.rules), default=0.0)
            self.window = ProcessWindow(process, keep_seconds=longest)
            self.window.observe(clock())  # the baseline the first windows subtract
        self._last_run: dict[str, datetime] = {}
        self._last_outcomes: dict[str, list[Outcome]] = {}

    def evaluate(self) -> list[Outcome]:
        """Measure every rule once, advance its states and send what changed."""
        now = self.clock()
        if self.window is not None:
            self.window.observe(now)
        context = Context(
            database=self.database,
            sites=self.sites,
            data_dir=self.data_dir,
            now=now,
            resolver=self.resolver,
            process=self.window,
        )
        outcomes: list[Outcome] = []
        for rule in self.rules:
            outcomes.extend(self._evaluate_rule(rule, context))
        return outcomes

    def _evaluate_rule(self, rule: Rule, context: Context) -> list[Outcome]:
        last = self._last_run.get(rule.name)
        if rule.every and last is not None and context.now - last < timedelta(seconds=rule.every):
            # A heavy check between its runs: report what it found last time, change nothing.
            return self._last_outcomes.get(rule.name, [])
        try:
            readings = SIGNALS[rule.signal].measure(rule, context)
        except Unavailable as exc:
            return [Outcome(rule, None, UNAVAILABLE, None, str(exc))]
        except SQLAlchemyError as exc:  # an outage, not a bug: one line, no traceback
            logger.warning("alert rule %s could not be measured: %s", rule.name, _one_line(exc))
            return [Outcome(rule, None, ERROR, None, _one_line(exc))]
        except Exception as exc:  # one broken signal must not stop the others
            logger.exception("alert rule %s could not be measured", rule.name)
            return [Outcome(rule, None, ERROR, None, _one_line(exc))]
        outcomes = [
            self._advance(rule, scope, readings.get(scope), context.now)
            for scope in self._scopes(rule, readings)
        ]
        self._last_run[rule.name] = context.now
        self._last_outcomes[rule.name] = [
            Outcome(o.rule, o.site_id, o.state, o.value, o.summary) for o in outcomes
        ]
        return outcomes

    def _scopes(self, rule: Rule, readings: Readings) -> Sequence[str | None]:
        if not rule.per_site:
            return [None]
        # Sites this evaluator neither serves nor measured are left alone: a cron job started
        # with fewer sites must not resolve what the server sees firing.
        scopes = {site.id for site in self.sites} | {s for s in readings if s is not None}
        return sorted(scopes)

    def _advance(
        self, rule: Rule, site_id: str | None, reading: Reading | None, now: datetime
    ) -> Outcome:
        reading = reading or Reading(None, "no data")
        holds = reading.value is not None and reading.value >= rule.threshold
        observation = Observation(rule, site_id, holds, reading.value, reading.summary, now)
        store: StateStore = self.store
        try:
            state, notice = self.store.advance(observation)
        except SQLAlchemyError as exc:
            logger.warning(
                "alert state for %s kept in memory: the database failed (%s)",
                observation.key,
                type(exc).__name__,
            )
            store = self.fallback
            state, notice = self.fallback.advance(observation)
        else:
            notice = notice or self._settle_fallback(observation)
        deliveries: tuple[Delivery, ...] = ()
        if notice is not None:
            deliveries = self._notify(rule, site_id, reading, notice, store)
        return Outcome(rule, site_id, state, reading.value, reading.summary, notice, deliveries)

    def _settle_fallback(self, observation: Observation) -> Transition | None:
        """Back on the database: resolve what fired from memory during its outage."""
        was_firing = self.fallback.status(observation.key) == FIRING
        notice = None
        if was_firing and not observation.holds:
            _, notice = self.fallback.advance(observation)
        # Still holding: the database's own state takes over from here.
        self.fallback.forget(observation.key)
        return notice

    def _notify(
        self,
        rule: Rule,
        site_id: str | None,
        reading: Reading,
        notice: Transition,
        store: StateStore,
    ) -> tuple[Delivery, ...]:
        alert = Alert(
            kind=notice.kind,
            rule=rule.name,
            severity=rule.severity,
            site_id=site_id,
            summary=reading.summary,
            description=rule.description,
            value=reading.value,
            threshold=rule.threshold,
            since=notice.since,
            at=notice.notified_at,
            host=self.host,
            runbook=rule.runbook_link,
        )
        # The log line is a channel of its own: it exists even with nothing configured.
        level = logging.INFO if notice.kind == "resolved" else logging.WARNING
        logger.log(
            level,
            "%s",
            f"{alert.title()}: {alert.summary} (runbook: {alert.runbook})",
            extra={
                "event": f"alert_{notice.kind}",
                "rule": rule.name,
                "site_id": site_id,
                "value": reading.value,
                "runbook": alert.runbook,
            },
        )
        deliveries = tuple(deliver(self.channels, alert))
        if deliveries and not any(d.ok for d in deliveries) and notice.kind != "resolved":
            try:
                store.undeliver(notice)
            except SQLAlchemyError:
                logger.warning("could not mark alert %s for another try", notice.key)
        return deliveries


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
