"""Alerts inside the serving process: a background evaluator and, if needed, a request counter."""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI

from forkable.monitoring.alerts.channels import configured_channels
from forkable.monitoring.alerts.evaluator import Evaluator
from forkable.monitoring.alerts.process import (
    MetricsSource,
    RecordingMiddleware,
    RequestRecorder,
    SignalSource,
)
from forkable.monitoring.alerts.rules import load_rules
from forkable.services import Services

logger = logging.getLogger(__name__)


def process_source(services: Services) -> SignalSource | None:
    """The app's metrics (`services.metrics.snapshot()`); None when they are switched off."""
    metrics = services.metrics
    return MetricsSource(metrics.snapshot) if metrics.enabled else None


class AlertLoop:
    """Evaluates every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, evaluator: Evaluator, interval: float) -> None:
        self.evaluator = evaluator
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="forkable-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        # The first round waits one interval: workers starting together do not all evaluate at
        # once, and the HTTP windows need a baseline anyway.
        while not self._stop.wait(self.interval):
            try:
                self.evaluator.evaluate()
            except Exception:  # the loop must outlive any bug in one round
                logger.exception("alert evaluation failed")


class AlertsRuntime:
    """What `create_app` wires in when alerts are on."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        rules = load_rules(settings.alert_rules)  # a broken rules file stops start-up
        source = process_source(services)
        # Without the metrics module's snapshot, count requests ourselves.
        self.recorder = RequestRecorder() if source is None else None
        self.evaluator = Evaluator(
            rules,
            database=services.database,
            sites=services.sites,
            data_dir=settings.data_dir,
            channels=configured_channels(settings),
            resolver=services.resolver,
            process=source or self.recorder,
        )
        self.loop = AlertLoop(self.evaluator, settings.alert_interval_seconds)
        # Serverless hosts keep no thread between requests: use `forkable alerts check` there.
        self.background = not settings.serverless

    def install(self, app: FastAPI) -> None:
        """Add the request counter (outermost, so it sees every response)."""
        if self.recorder is not None:
            app.add_middleware(RecordingMiddleware, recorder=self.recorder)

    def start(self) -> None:
        if self.background:
            self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
