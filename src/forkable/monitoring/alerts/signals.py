"""What each rule measures: from the database where possible, so cron and workers agree."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select

from forkable.db import Database
from forkable.generations.admission import MICRO_USD
from forkable.generations.models import Generation, SpendDay, Status
from forkable.generations.verify import verify_all
from forkable.monitoring.alerts.process import ProcessSnapshot, ProcessWindow, quantile
from forkable.monitoring.alerts.rule import Rule
from forkable.observability.readiness import core_components
from forkable.providers.resolver import ProviderResolver
from forkable.sites import SiteRegistry

Unit = Literal["ratio", "seconds", "count"]
Scope = str | None  # a site id, or None for the whole deployment


@dataclass(frozen=True)
class Reading:
    """A measured value (None: too little data to judge, which counts as clear)."""

    value: float | None
    summary: str


Readings = dict[Scope, Reading]


class Unavailable(Exception):
    """This process cannot measure the signal (a cron job serves no HTTP traffic)."""


@dataclass(frozen=True)
class Context:
    """Everything a signal may read, taken once per evaluation."""

    database: Database
    sites: SiteRegistry
    data_dir: Path
    now: datetime
    resolver: ProviderResolver | None = None  # only the serving process has live breakers
    process: ProcessWindow | None = None  # only the serving process has traffic


Measure = Callable[[Rule, Context], Readings]


@dataclass(frozen=True)
class Signal:
    name: str
    unit: Unit
    measure: Measure
    per_site: bool  # can be measured site by site
    deployment: bool  # can be measured for the whole deployment
    process_local: bool = False
    windowed: bool = False  # reads `window`; the others measure the present moment


def format_value(unit: Unit, value: float | None) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"
    if unit == "seconds":
        return f"{value:.2f} s" if value < 10 else _human_seconds(value)
    return f"{value:g}"


def _human_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _scopes(rule: Rule, ctx: Context) -> list[Scope]:
    return [site.id for site in ctx.sites] if rule.per_site else [None]


def _window(rule: Rule) -> str:
    return _human_seconds(rule.window)


def generation_failure_ratio(rule: Rule, ctx: Context) -> Readings:
    """Failed over finished generations in the window, leaving out the ignored error codes."""
    since = ctx.now - timedelta(seconds=rule.window)
    query = (
        select(Generation.site_id, Generation.status, Generation.error_code, func.count())
        .where(
            Generation.finished_at >= since,
            Generation.status.in_([Status.SUCCEEDED, Status.FAILED]),
        )
        .group_by(Generation.site_id, Generation.status, Generation.error_code)
    )
    finished: Counter[Scope] = Counter()
    failures: dict[Scope, Counter[str]] = defaultdict(Counter)
    with ctx.database.session() as session:
        for site_id, status, error_code, count in session.execute(query):
            if status == Status.FAILED and error_code in rule.ignore_errors:
                continue
            scope = site_id if rule.per_site else None
            finished[scope] += count
            if status == Status.FAILED:
                failures[scope][error_code or "unknown"] += count
    readings: Readings = {}
    for scope in {*_scopes(rule, ctx), *finished}:
        total = finished[scope]
        failed = sum(failures[scope].values())
        if total < max(rule.min_samples, 1):
            readings[scope] = Reading(
                None,
                f"{_count(total, 'generation')} finished in the last {_window(rule)}: "
                "too few to judge",
            )
            continue
        reasons = ", ".join(f"{code}: {n}" for code, n in failures[scope].most_common(3))
        summary = f"{failed} of {_count(total, 'generation')} failed in the last {_window(rule)}"
        readings[scope] = Reading(failed / total, f"{summary} ({reasons})" if reasons else summary)
    return readings


def job_queue_age(rule: Rule, ctx: Context) -> Readings:
    """Seconds the oldest queued generation (that a worker would take) has waited."""
    query = (
        select(Generation.site_id, func.min(Generation.created_at), func.count())
        .where(Generation.status == Status.QUEUED, Generation.deleted_at.is_(None))
        .group_by(Generation.site_id)
    )
    with ctx.database.session() as session:
        rows = [(site_id, oldest, count) for site_id, oldest, count in session.execute(query)]
    readings: Readings = dict.fromkeys(_scopes(rule, ctx), Reading(0.0, "no generation is queued"))
    for site_id, oldest, count in sorted(rows, key=lambda row: row[1], reverse=True):
        scope = site_id if rule.per_site else None
        waited = max(0.0, (ctx.now - oldest).total_seconds())
        where = "" if rule.per_site else f" on {site_id}"
        readings[scope] = Reading(
            waited,
            f"the oldest of {_count(count, 'queued generation')}{where} "
            f"has waited {_human_seconds(waited)}",
        )
    return readings


def spend_cap(rule: Rule, ctx: Context) -> Readings:
    """Each site's share of its daily spend cap used today (UTC), as admission counts it:
    what ended generations cost and what those still running are expected to."""
    query = select(SpendDay.site_id, SpendDay.spent_micro_usd + SpendDay.reserved_micro_usd).where(
        SpendDay.day == ctx.now.date()
    )
    with ctx.database.session() as session:
        spent = {site_id: total / MICRO_USD for site_id, total in session.execute(query)}
    readings: Readings = {}
    for site in ctx.sites:
        cap = site.manifest.limits.daily_spend_cap_usd
        used = spent.get(site.id, 0.0)
        # Admission refuses what would pass the cap, so a zero cap is always reached.
        share = used / cap if cap > 0 else 1.0
        readings[site.id] = Reading(
            share, f"${used:,.2f} of the ${cap:,.2f} daily cap spent today ({share:.0%})"
        )
    return readings


def ledger_violations(rule: Rule, ctx: Context) -> Readings:
    """How many ledger invariants `forkable ledger verify` finds broken."""
    with ctx.database.session() as session:
        violations = verify_all(session)
    found: dict[Scope, list[str]] = defaultdict(list)
    for violation in violations:
        found[violation.site_id if rule.per_site else None].append(str(violation))
    readings: Readings = dict.fromkeys(_scopes(rule, ctx), Reading(0.0, "every invariant holds"))
    for scope, messages in found.items():
        more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
        readings[scope] = Reading(
            float(len(messages)), f"{_count(len(messages), 'violation')}: {messages[0]}{more}"
        )
    return readings


def readiness(rule: Rule, ctx: Context) -> Readings:
    """How many of /readyz's components fail (database, data dir)."""
    components = core_components(ctx.database, ctx.data_dir)
    failing = {
        name: c.get("detail", "error") for name, c in components.items() if c["status"] != "ok"
    }
    if not failing:
        return {None: Reading(0.0, "database and data dir are ready")}
    details = "; ".join(f"{name}: {detail}" for name, detail in failing.items())
    return {None: Reading(float(len(failing)), f"not ready: {details}")}


def circuit_open(rule: Rule, ctx: Context) -> Readings:
    """How many provider circuit breakers are open (or probing), here or in any worker."""
    latest = ctx.process.latest() if ctx.process is not None else None
    merged = latest.open_circuits if latest is not None else None
    if ctx.resolver is None and merged is None:
        raise Unavailable("breakers live in the serving process")
    # The metrics' gauge is merged over every worker: without it, workers whose own breakers
    # disagree would fire and resolve the shared alert in turn.
    found = set(ctx.resolver.degraded() if ctx.resolver is not None else ()) | set(merged or ())
    degraded = sorted(found)
    if not degraded:
        return {None: Reading(0.0, "every provider circuit is closed")}
    return {None: Reading(float(len(degraded)), f"open circuits: {', '.join(degraded)}")}


def _change(rule: Rule, ctx: Context) -> ProcessSnapshot:
    if ctx.process is None:
        raise Unavailable("measured by the serving process only")
    change = ctx.process.change(ctx.now, rule.window)
    if change is None:
        raise Unavailable("no metrics snapshot yet")
    return change


def http_error_rate(rule: Rule, ctx: Context) -> Readings:
    change = _change(rule, ctx)
    if change.http_requests is None or change.http_errors is None:
        raise Unavailable("the metrics source does not count HTTP errors")
    total, errors = change.http_requests, change.http_errors
    if total < max(rule.min_samples, 1):
        return {
            None: Reading(None, f"{_count(total, 'request')} in the last {_window(rule)}: too few")
        }
    summary = f"{errors} of {total} responses were server errors in the last {_window(rule)}"
    return {None: Reading(errors / total, summary)}


def http_latency_p95(rule: Rule, ctx: Context) -> Readings:
    buckets = _change(rule, ctx).latency_buckets
    if buckets is None:
        raise Unavailable("the metrics source has no latency histogram")
    total = buckets[-1][1] if buckets else 0
    p95 = quantile(0.95, buckets)
    if p95 is None or total < max(rule.min_samples, 1):
        return {
            None: Reading(None, f"{_count(total, 'request')} in the last {_window(rule)}: too few")
        }
    summary = (
        f"p95 response time {p95:.2f} s over {_count(total, 'request')} in the last {_window(rule)}"
    )
    return {None: Reading(p95, summary)}


def _counter(field: str, what: str, plural: str) -> Measure:
    def measure(rule: Rule, ctx: Context) -> Readings:
        count = getattr(_change(rule, ctx), field)
        if count is None:
            raise Unavailable(f"the metrics source does not count {plural}")
        summary = f"{_count(count, what, plural)} in the last {_window(rule)}"
        return {None: Reading(float(count), summary)}

    return measure


SIGNALS: dict[str, Signal] = {
    signal.name: signal
    for signal in (
        Signal(
            "http_error_rate",
            "ratio",
            http_error_rate,
            False,
            True,
            process_local=True,
            windowed=True,
        ),
        Signal(
            "http_latency_p95",
            "seconds",
            http_latency_p95,
            False,
            True,
            process_local=True,
            windowed=True,
        ),
        Signal(
            "generation_failure_ratio", "ratio", generation_failure_ratio, True, True, windowed=True
        ),
        Signal("provider_circuit_open", "count", circuit_open, False, True, process_local=True),
        Signal("spend_cap_reached", "ratio", spend_cap, True, False),
        Signal(
            "webhook_signature_failures",
            "count",
            _counter(
                "webhook_signature_failures",
                "webhook call with a bad signature",
                "webhook calls with a bad signature",
            ),
            False,
            True,
            process_local=True,
            windowed=True,
        ),
        Signal(
            "failed_logins",
            "count",
            _counter("login_failures", "failed login", "failed logins"),
            False,
            True,
            process_local=True,
            windowed=True,
        ),
        Signal("job_queue_age", "seconds", job_queue_age, True, True),
        Signal("readiness_failing", "count", readiness, False, True),
        Signal("ledger_verify_failing", "count", ledger_violations, True, True),
    )
}
