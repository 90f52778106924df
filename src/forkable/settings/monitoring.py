"""What the process tells its operators: errors, metrics, logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator

from forkable.settings.fields import lowered, on_off, variable

LogFormat = Literal["json", "text"]


class MonitoringSettings(BaseModel):
    """What the process tells its operators: errors, metrics, logs."""

    sentry_dsn: str | None = variable("SENTRY_DSN", meaning="error reporting", shown_default="off")
    metrics_token: str | None = variable(
        "FORKABLE_METRICS_TOKEN",
        meaning="bearer token for `/metrics` (required in production, 32+ characters)",
        shown_default="open in development",
    )
    # None: json in production, text in development.
    log_format: Annotated[LogFormat | None, BeforeValidator(lowered)] = variable(
        "FORKABLE_LOG_FORMAT",
        meaning="`json` (one object per line) or `text` (readable lines); see "
        "[Monitoring](#monitoring)",
        shown_default="`json` in production, `text` in development",
    )
    # Off only to measure what instrumentation costs.
    metrics_enabled: Annotated[bool, BeforeValidator(on_off)] = variable(
        "FORKABLE_METRICS",
        meaning="`on` or `off`; `off` removes metrics, request ids and access-log lines, only to "
        "measure what they cost",
        default=True,
        shown_default="`on`",
    )
    # Off where the load balancer logs requests already.
    access_log: Annotated[bool, BeforeValidator(on_off)] = variable(
        "FORKABLE_ACCESS_LOG",
        meaning="`on` or `off`: one log line per request; turn it off where the load balancer or "
        "proxy logs requests already (see docs/benchmarks.md for what it costs)",
        default=True,
        shown_default="`on`",
    )
    metrics_multiproc_dir: Path | None = variable(
        "PROMETHEUS_MULTIPROC_DIR",
        meaning="folder where worker processes keep their metric files; `forkable serve "
        "--workers N` sets it to `FORKABLE_DATA_DIR/prometheus` and empties it at start",
        shown_default="set by `serve`",
    )
