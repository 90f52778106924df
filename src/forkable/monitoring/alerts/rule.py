"""An alert rule: what to measure, when it fires, how often to say so; and its durations."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Severity = Literal["info", "warning", "critical"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Where the runbooks live, relative to the repository's root. forkable names no public home
# page, so alerts carry this path: the operator opens it in their checkout or on their forge.
RUNBOOKS = "docs/runbooks"


def parse_duration(value: object) -> object:
    """Seconds as a number, or text like "90s", "5m", "1h30m", "1d"."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value  # numbers pass; pydantic reports anything else
    text = value.strip().lower().replace(" ", "")
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"{value!r} is not a duration (use seconds or e.g. '30s', '5m', '2h')")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest of "45s", "5m", "2h", "1d" that says ``seconds`` exactly."""
    if seconds <= 0:
        return "0s"
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class Rule(BaseModel):
    """One alert rule: what to measure, when it fires, how often to say so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    signal: str = Field(description="What it measures; defaults to the rule's name.")
    description: str = Field(description="One sentence for the person who gets paged.")
    severity: Severity = Field(default="warning", description="info, warning or critical.")
    threshold: float = Field(description="Fires when the value is at or above it.")
    window: Duration = Field(default=300.0, description="How far back rates and counts look.")
    for_seconds: Duration = Field(
        default=0.0, alias="for", description="How long the condition must hold before firing."
    )
    cooldown: Duration = Field(
        default=3600.0, description="Remind while still firing this often; 0: never."
    )
    every: Duration = Field(
        default=0.0, description="Measure at most this often (heavy checks); 0: each evaluation."
    )
    per_site: bool = Field(default=False, description="One alert per site instead of one overall.")
    min_samples: int = Field(
        default=0, ge=0, description="Below this many requests or generations, no verdict."
    )
    ignore_errors: tuple[str, ...] = Field(
        default=(), description="Generation error codes that do not count as failures."
    )
    runbook: str | None = Field(
        default=None,
        min_length=1,
        description="What the operator should read; defaults to the signal's shipped page.",
    )
    enabled: bool = True

    @property
    def runbook_link(self) -> str:
        """The rule's own `runbook`, else the shipped page of the signal it measures."""
        return self.runbook or f"{RUNBOOKS}/{self.signal}.md"

    def key(self, site_id: str | None) -> str:
        """The `alert_states` key: the rule name, with the site for per-site rules."""
        return f"{self.name}:{site_id}" if site_id else self.name
