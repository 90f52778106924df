"""Prometheus metrics of one app, and the in-process API that alerting reads.

One `Metrics` is built per app by `forkable.app.build_services` and reached as
`services.metrics` (routes, the alerting engine) or handed explicitly to what needs it (the
HTTP middleware, the provider resolver). Its methods record events:

    metrics.record_request(method, route, status, seconds)       # or metrics.requests, see
                                                                 # forkable.observability.request_tally
    metrics.record_generation(site, provider, style, outcome, seconds, reason=..., cost_usd=...)
    metrics.record_provider_retry(provider, kind)                # "429", "503", "timeout" ...
    metrics.record_provider_error(provider, reason)              # providers.base reasons
    metrics.record_circuit(circuit, is_open)
    metrics.record_signup(site)
    metrics.record_login(site, outcome)                          # success | failure | throttled
    metrics.record_purchase(site, currency, amount_cents)
    metrics.record_tokens(site, kind, amount, held_delta)        # one ledger entry
    metrics.record_webhook(outcome)                              # or "invalid_signature"
    metrics.record_refusal(site, reason)                         # "spend_cap"

Ledger entries, purchases and finished generations are noted in their transactions
(`forkable.db.events`) and reach `record_facts` only after the commit, so a rolled-back change
is never counted.

The machine and what the app depends on have metrics of their own, refreshed before every
scrape (and, among several workers, every second): `metrics.process` (CPU, memory, open
files, garbage collection, labelled with the process's role, "web" or "worker"),
`metrics.database` (statement times, the pool, SQLite's write lock; wired with
`metrics.watch_database(database)`), `metrics.redis` and `metrics.media`, the observers the
rate limiter and the media store are built with (`forkable.observability.dependency_metrics`).

`metrics.snapshot()` returns what alert rules need without an HTTP scrape (`Snapshot`, in
`forkable.observability.snapshot`): request and server-error totals, latency buckets, logins, webhook
signature failures, generation outcomes, provider errors, spend and open circuits, counted
since the process started (or, with several workers, since `forkable serve` started, summed
over every worker).
`metrics.exposition(extra)` renders the Prometheus text format for `/metrics`.

The metric objects hang off a `CollectorRegistry` of this app, not prometheus-client's global
`REGISTRY`: tests build several apps in one process, each with its own counts. With several
worker processes (`PROMETHEUS_MULTIPROC_DIR`, set by `forkable serve --workers N`),
prometheus-client keeps every value in per-process files in that folder; exposition and
snapshot then merge the files of every worker, and `stop()` retires this process's live
gauges when it exits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from forkable.db import Database
from forkable.db.events import Fact, GenerationFinished, LedgerBooked, PurchasePaid
from forkable.observability.dependency_metrics import DatabaseMetrics, MediaMetrics, RedisMetrics
from forkable.observability.process_metrics import ProcessMetrics
from forkable.observability.request_tally import SYNC_SECONDS, RequestTally
from forkable.observability.snapshot import Snapshot, summarise
from forkable.periodic import Periodic

__all__ = ["Metrics", "Snapshot", "fresh_multiprocess_dir"]

# 2.0 is a bound so that "p95 above 2 s" reads an exact bucket edge.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
GENERATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
LOGIN_OUTCOMES = ("success", "failure", "throttled")
_GRANTS = frozenset({"signup_bonus", "purchase", "admin_grant"})


class Metrics:
    """The metric objects of one app and the helpers that record events on them."""

    def __init__(
        self, *, enabled: bool = True, multiprocess_dir: Path | None = None, role: str = "web"
    ) -> None:
        self.enabled = enabled
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=False)
        self._add_http_metrics(self.registry)
        self._add_generation_metrics(self.registry)
        self._add_provider_metrics(self.registry)
        self._add_account_metrics(self.registry)
        self._add_money_metrics(self.registry)
        self.process = ProcessMetrics(self.registry, role)
        self.database = DatabaseMetrics(self.registry)
        self.redis = RedisMetrics(self.registry)
        self.media = MediaMetrics(self.registry)
        # Among several workers, each writes its news to the shared files every second.
        self._syncer = Periodic("forkable-metrics-sync", SYNC_SECONDS, self.sync)

    # -- the metric objects, by topic --------------------------------------------------------

    def _add_http_metrics(self, r: CollectorRegistry) -> None:
        self.http_requests = Counter(
            "forkable_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "forkable_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.http_in_progress = Gauge(
            "forkable_http_requests_in_progress",
            "HTTP requests being answered now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        # Requests are counted without locks and added to the three metrics above in batches.
        self.requests = RequestTally(
            self.http_requests, self.http_duration, self.http_in_progress, HTTP_BUCKETS
        )

    def _add_generation_metrics(self, r: CollectorRegistry) -> None:
        self.generations = Counter(
            "forkable_generations",
            "Finished generations by site, provider, style and outcome.",
            ["site", "provider", "style", "outcome"],
            registry=r,
        )
        self.generation_failures = Counter(
            "forkable_generation_failures",
            "Failed generations by site, provider and reason.",
            ["site", "provider", "reason"],
            registry=r,
        )
        self.generation_duration = Histogram(
            "forkable_generation_duration_seconds",
            "Seconds from submitting a photo to its final state.",
            ["site", "provider", "outcome"],
            buckets=GENERATION_BUCKETS,
            registry=r,
        )
        self.generations_refused = Counter(
            "forkable_generations_refused",
            "Generations refused before starting, by site and reason (spend_cap).",
            ["site", "reason"],
            registry=r,
        )

    def _add_provider_metrics(self, r: CollectorRegistry) -> None:
        self.provider_retries = Counter(
            "forkable_provider_retries",
            "Provider calls retried, by provider and what failed (HTTP status, timeout ...).",
            ["provider", "kind"],
            registry=r,
        )
        self.provider_errors = Counter(
            "forkable_provider_errors",
            "Provider calls that failed for good, by provider and reason.",
            ["provider", "reason"],
            registry=r,
        )
        self.provider_circuit = Gauge(
            "forkable_provider_circuit_open",
            "1 while a provider's circuit breaker is not closed, by provider:model.",
            ["circuit"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.provider_spend = Counter(
            "forkable_provider_spend_usd",
            "Estimated provider spend in US dollars, by site and provider.",
            ["site", "provider"],
            registry=r,
        )

    def _add_account_metrics(self, r: CollectorRegistry) -> None:
        self.signups = Counter("forkable_signups", "Sign-ups by site.", ["site"], registry=r)
        self.logins = Counter(
            "forkable_logins",
            "Login attempts by site and outcome (success, failure, throttled).",
            ["site", "outcome"],
            registry=r,
        )

    def _add_money_metrics(self, r: CollectorRegistry) -> None:
        """Purchases, revenue, token movements and the Stripe webhooks that bring them."""
        self.purchases = Counter(
            "forkable_purchases",
            "Packs paid for, by site and currency.",
            ["site", "currency"],
            registry=r,
        )
        self.revenue = Counter(
            "forkable_revenue_cents",
            "Revenue in the currency's smallest unit (cents), by site and currency.",
            ["site", "currency"],
            registry=r,
        )
        self.tokens_granted = Counter(
            "forkable_tokens_granted",
            "Tokens credited, by site and source (signup_bonus, purchase, admin_grant).",
            ["site", "source"],
            registry=r,
        )
        self.tokens_spent = Counter(
            "forkable_tokens_spent", "Tokens spent on generations, by site.", ["site"], registry=r
        )
        self.tokens_refunded = Counter(
            "forkable_tokens_refunded",
            "Held tokens given back after failed generations, by site.",
            ["site"],
            registry=r,
        )
        self.tokens_revoked = Counter(
            "forkable_tokens_revoked",
            "Tokens taken back, by site and source (clawback, admin_grant).",
            ["site", "source"],
            registry=r,
        )
        self.webhooks = Counter(
            "forkable_webhook_deliveries",
            "Stripe webhook deliveries by outcome (credited, duplicate, invalid_signature ...).",
            ["outcome"],
            registry=r,
        )

    # -- recording -------------------------------------------------------------------------

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request (`InstrumentationMiddleware` counts through `requests`)."""
        if self.enabled:
            self.requests.record(method, route, status, seconds)

    def record_generation(
        self,
        site: str,
        provider: str | None,
        style: str | None,
        outcome: str,
        seconds: float,
        *,
        reason: str | None = None,
        cost_usd: float | None = None,
    ) -> None:
        if not self.enabled:
            return
        provider = provider or "none"
        self.generations.labels(site, provider, style or "default", outcome).inc()
        self.generation_duration.labels(site, provider, outcome).observe(max(0.0, seconds))
        if outcome == "failed":
            self.generation_failures.labels(site, provider, reason or "unknown").inc()
        if cost_usd:
            self.provider_spend.labels(site, provider).inc(cost_usd)

    def record_provider_retry(self, provider: str, kind: str) -> None:
        if self.enabled:
            self.provider_retries.labels(provider, kind).inc()

    def record_provider_error(self, provider: str, reason: str) -> None:
        if self.enabled:
            self.provider_errors.labels(provider, reason).inc()

    def record_circuit(self, circuit: str, is_open: bool) -> None:
        if self.enabled:
            self.provider_circuit.labels(circuit).set(1 if is_open else 0)

    def record_signup(self, site: str) -> None:
        if self.enabled:
            self.signups.labels(site).inc()

    def record_login(self, site: str, outcome: str) -> None:
        if self.enabled:
            self.logins.labels(site, outcome).inc()

    def record_purchase(self, site: str, currency: str, amount_cents: int) -> None:
        if not self.enabled:
            return
        self.purchases.labels(site, currency).inc()
        self.revenue.labels(site, currency).inc(amount_cents)

    def record_tokens(self, site: str, kind: str, amount: int, held_delta: int) -> None:
        """One ledger entry: grants, spending, refunds of held tokens, revocations."""
        if not self.enabled:
            return
        if kind == "generation_capture":
            self.tokens_spent.labels(site).inc(-amount)
        elif kind == "generation_void":
            self.tokens_refunded.labels(site).inc(-held_delta)
        elif kind in _GRANTS and amount > 0:
            self.tokens_granted.labels(site, kind).inc(amount)
        elif amount < 0 and kind != "generation_hold":
            self.tokens_revoked.labels(site, kind).inc(-amount)

    def record_webhook(self, outcome: str) -> None:
        if self.enabled:
            self.webhooks.labels(outcome).inc()

    def record_refusal(self, site: str, reason: str) -> None:
        if self.enabled:
            self.generations_refused.labels(site, reason).inc()

    def record_facts(self, facts: Iterable[Fact]) -> None:
        """What a transaction did, told after its commit (`forkable.db.events.observe`)."""
        for fact in facts:
            if isinstance(fact, LedgerBooked):
                self.record_tokens(fact.site_id, fact.kind, fact.amount, fact.held_delta)
            elif isinstance(fact, PurchasePaid):
                self.record_purchase(fact.site_id, fact.currency, fact.amount_cents)
            elif isinstance(fact, GenerationFinished):
                self.record_generation(
                    fact.site_id,
                    fact.provider,
                    fact.style,
                    fact.outcome,
                    fact.seconds,
                    reason=fact.reason,
                    cost_usd=fact.cost_usd,
                )

    def warm(self, site: str, currency: str) -> None:
        """Create a site's known series at 0, so rates and alerts see them before any event."""
        if not self.enabled:
            return
        self.signups.labels(site)
        for outcome in LOGIN_OUTCOMES:
            self.logins.labels(site, outcome)
        self.purchases.labels(site, currency)
        self.revenue.labels(site, currency)
        self.tokens_spent.labels(site)
        self.tokens_refunded.labels(site)
        self.generations_refused.labels(site, "spend_cap")
        self.webhooks.labels("invalid_signature")

    def watch_database(self, database: Database) -> None:
        """Time ``database``'s statements, pool checkouts and write-lock waits from now on."""
        if self.enabled:
            self.database.watch(database)

    def sync(self) -> None:
        """Write what was counted in plain Python and what the machine says now to the metric
        objects: request counts, process numbers, the database pool."""
        if not self.enabled:
            return
        self.requests.sync()
        self.process.refresh()
        self.database.refresh()

    def start(self) -> None:
        """Start timing garbage-collector pauses; a worker among several also hands its
        counts to the shared files every second."""
        if not self.enabled:
            return
        self.process.start()
        if self.multiprocess_dir is not None:
            self.sync()  # no live gauge of this process shows 0 until the first second passes
            self._syncer.start()

    def stop(self) -> None:
        """This process stops serving: its last counts are written, its live gauges
        (in progress, circuits, process numbers) stop counting."""
        if self.enabled:
            self._syncer.stop()
            self.requests.stop()
            self.process.stop()
        if self.multiprocess_dir is not None:
            prometheus_multiprocess.mark_process_dead(os.getpid(), str(self.multiprocess_dir))  # type: ignore[no-untyped-call]

    # -- reading ---------------------------------------------------------------------------

    def families(self) -> Iterable[Metric]:
        """The current values: this process's, or every worker's merged."""
        self.sync()
        if self.multiprocess_dir is not None:
            merge = prometheus_multiprocess.MultiProcessCollector.merge
            families: Iterable[Metric] = merge(  # type: ignore[no-untyped-call]
                _readable_files(self.multiprocess_dir), accumulate=True
            )
            return families
        return self.registry.collect()

    def exposition(self, extra: Iterable[Metric] = ()) -> bytes:
        """The Prometheus text format, with ``extra`` families computed for this scrape."""
        return generate_latest(_Exposition(self.families(), extra))

    def snapshot(self) -> Snapshot:
        """The counters alert rules read, without an HTTP scrape."""
        return summarise(self.families())


def _readable_files(folder: Path) -> list[str]:
    """The workers' metric files, but one a starting worker has created and not yet sized
    (for a moment it is empty, and prometheus-client cannot read an empty file)."""
    readable = []
    for path in sorted(folder.glob("*.db")):
        try:
            if path.stat().st_size > 0:
                readable.append(str(path))
        except FileNotFoundError:
            continue  # a worker exited and its live gauges' file was removed meanwhile
    return readable


def fresh_multiprocess_dir(data_dir: Path) -> Path:
    """The workers' metric files folder in the data dir, emptied of a previous run's files."""
    folder = data_dir.resolve() / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    return folder


class _Exposition(Collector):
    """The families to render; `_created` samples dropped (they double the series)."""

    def __init__(self, families: Iterable[Metric], extra: Iterable[Metric]) -> None:
        self._families = families
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family
        yield from self._extra
