"""The snapshot alerting reads: counters summed from the metric families, no HTTP scrape."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import TypedDict

from prometheus_client.metrics_core import Metric

# Probes and scrapes are in /metrics but left out of the snapshot's traffic, where they would
# drown real requests (and report a failing probe twice).
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class Snapshot(TypedDict):
    """Counters since the process (or, with several workers, the server) started."""

    http_requests_total: int  # probes and scrapes left out
    http_errors_total: int  # status 500 and above
    http_requests_by_class: dict[str, int]  # "2xx" ... "5xx"
    http_request_duration_seconds_buckets: list[tuple[float, int]]  # cumulative, ends at inf
    http_request_duration_seconds_sum: float
    login_failures_total: int
    logins: dict[str, dict[str, int]]  # site -> outcome -> count
    webhook_signature_failures_total: int
    webhook_deliveries: dict[str, int]  # outcome -> count
    generations: dict[str, dict[str, int]]  # site -> succeeded | failed -> count
    generation_failures: dict[str, dict[str, int]]  # site -> reason -> count
    generations_refused: dict[str, dict[str, int]]  # site -> reason -> count
    provider_errors: dict[str, dict[str, int]]  # provider -> reason -> count
    provider_spend_usd: dict[str, float]  # site -> dollars
    open_circuits: list[str]


def _nested() -> defaultdict[str, dict[str, int]]:
    return defaultdict(dict)


def _add(table: defaultdict[str, dict[str, int]], outer: str, inner: str, value: float) -> None:
    table[outer][inner] = table[outer].get(inner, 0) + round(value)


def summarise(families: Iterable[Metric]) -> Snapshot:
    """Sum the samples alert rules need; probes and scrapes left out of the traffic."""
    by_class: dict[str, int] = defaultdict(int)
    buckets: dict[float, int] = defaultdict(int)
    latency_sum = 0.0
    logins, generations, failures, refused, errors = (_nested() for _ in range(5))
    webhooks: dict[str, int] = defaultdict(int)
    spend: dict[str, float] = defaultdict(float)
    circuits: list[str] = []
    for family in families:
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "forkable_http_requests_total":
                if labels["route"] not in PROBE_ROUTES:
                    by_class[labels["status"][:1] + "xx"] += round(value)
            elif name == "forkable_http_request_duration_seconds_bucket":
                if labels["route"] not in PROBE_ROUTES:
                    buckets[float(labels["le"])] += round(value)
            elif name == "forkable_http_request_duration_seconds_sum":
                if labels["route"] not in PROBE_ROUTES:
                    latency_sum += value
            elif name == "forkable_logins_total":
                _add(logins, labels["site"], labels["outcome"], value)
            elif name == "forkable_webhook_deliveries_total":
                webhooks[labels["outcome"]] += round(value)
            elif name == "forkable_generations_total":
                _add(generations, labels["site"], labels["outcome"], value)
            elif name == "forkable_generation_failures_total":
                _add(failures, labels["site"], labels["reason"], value)
            elif name == "forkable_generations_refused_total":
                _add(refused, labels["site"], labels["reason"], value)
            elif name == "forkable_provider_errors_total":
                _add(errors, labels["provider"], labels["reason"], value)
            elif name == "forkable_provider_spend_usd_total":
                spend[labels["site"]] += value
            elif name == "forkable_provider_circuit_open" and value >= 1:
                circuits.append(labels["circuit"])
    if math.inf not in buckets:
        buckets[math.inf] = 0
    return Snapshot(
        http_requests_total=sum(by_class.values()),
        http_errors_total=by_class.get("5xx", 0),
        http_requests_by_class=dict(by_class),
        http_request_duration_seconds_buckets=sorted(buckets.items()),
        http_request_duration_seconds_sum=latency_sum,
        login_failures_total=sum(site.get("failure", 0) for site in logins.values()),
        logins=dict(logins),
        webhook_signature_failures_total=webhooks.get("invalid_signature", 0),
        webhook_deliveries=dict(webhooks),
        generations=dict(generations),
        generation_failures=dict(failures),
        generations_refused=dict(refused),
        provider_errors=dict(errors),
        provider_spend_usd=dict(spend),
        open_circuits=sorted(circuits),
    )
