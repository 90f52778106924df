"""Request counts kept per thread without locks and added to the Prometheus metrics on sync."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Histogram
from tests.support.metrics import exported

from forkable.observability.metrics import HTTP_BUCKETS, Metrics


def histogram_of(values: list[float]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What prometheus-client's own Histogram.observe exports for ``values``."""
    registry = CollectorRegistry()
    reference = Histogram(
        "forkable_http_request_duration_seconds",
        "",
        ["method", "route"],
        buckets=HTTP_BUCKETS,
        registry=registry,
    )
    for seconds in values:
        reference.labels("GET", "/x").observe(seconds)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def counted(metrics: Metrics, status: str = "200") -> float:
    labels = (("method", "GET"), ("route", "/x"), ("status", status))
    return exported(metrics).get(("forkable_http_requests_total", labels), 0)


def test_the_histogram_matches_what_observe_would_have_made() -> None:
    # Bucket edges included: "less than or equal" puts 0.005 in the 0.005 bucket.
    values = [0.0, 0.001, 0.005, 0.0051, 0.3, 2.0, 7.5, 10.0, 11.0, 60.0]
    metrics = Metrics()
    for seconds in values:
        metrics.record_request("GET", "/x", 200, seconds)

    found = exported(metrics)
    expected = histogram_of(values)
    assert {key: found[key] for key in expected} == expected
    assert counted(metrics) == len(values)


def test_each_sync_adds_only_what_is_new() -> None:
    metrics = Metrics()
    metrics.record_request("GET", "/x", 200, 0.01)
    assert counted(metrics) == 1
    assert counted(metrics) == 1  # read again: nothing added twice
    metrics.record_request("GET", "/x", 200, 0.02)
    metrics.record_request("GET", "/x", 404, 0.02)
    assert counted(metrics) == 2
    assert counted(metrics, "404") == 1
    found = exported(metrics)
    labels = (("method", "GET"), ("route", "/x"))
    assert found[("forkable_http_request_duration_seconds_count", labels)] == 3
    assert abs(found[("forkable_http_request_duration_seconds_sum", labels)] - 0.05) < 1e-9


def test_threads_count_apart_and_nothing_is_lost() -> None:
    metrics = Metrics()
    start = threading.Barrier(8)
    reads: list[float] = []

    def serve() -> None:
        start.wait()
        for _ in range(2000):
            metrics.record_request("GET", "/x", 200, 0.002)

    def scrape() -> None:
        start.wait()
        for _ in range(50):
            reads.append(counted(metrics))

    threads = [threading.Thread(target=serve) for _ in range(7)]
    threads.append(threading.Thread(target=scrape))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert reads == sorted(reads)  # scrapes in between never go backwards
    assert counted(metrics) == 7 * 2000
    labels = (("le", "0.005"), ("method", "GET"), ("route", "/x"))
    assert exported(metrics)[("forkable_http_request_duration_seconds_bucket", labels)] == 14000


def test_requests_in_progress_are_read_at_the_scrape() -> None:
    metrics = Metrics()
    tally = metrics.requests.for_this_thread()
    tally.in_progress += 2
    assert exported(metrics)[("forkable_http_requests_in_progress", ())] == 2
    tally.in_progress -= 2
    assert exported(metrics)[("forkable_http_requests_in_progress", ())] == 0


def test_stop_writes_what_is_left_and_a_syncing_thread_stops() -> None:
    metrics = Metrics()
    metrics.requests.start()
    metrics.record_request("GET", "/x", 200, 0.01)
    metrics.stop()
    assert not any(t.name == "forkable-metrics-sync" for t in threading.enumerate())
    # Read the registry itself, which (unlike a scrape) does not sync first.
    totals = [
        s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == "forkable_http_requests_total"
    ]
    assert totals == [1]
