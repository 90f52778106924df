"""Tallied observations reach the histogram at each sync, exactly as `observe` would count."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from forkable.observability.tallied import TalliedHistogram

BOUNDS = (0.01, 0.1, 1.0)


def _exported(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
    return {
        (s.name, s.labels.get("kind", ""), s.labels.get("le", "")): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_a_sync_adds_what_observe_would_have() -> None:
    tallied_registry, direct_registry = CollectorRegistry(), CollectorRegistry()
    tallied_histogram = Histogram("t", "t", ["kind"], buckets=BOUNDS, registry=tallied_registry)
    direct = Histogram("t", "t", ["kind"], buckets=BOUNDS, registry=direct_registry)
    tally = TalliedHistogram({kind: tallied_histogram.labels(kind) for kind in ("a", "b")}, BOUNDS)
    values = [("a", 0.005), ("a", 0.01), ("b", 0.5), ("a", 3.0), ("b", 0.1)]
    for kind, seconds in values[:3]:
        tally.observe(kind, seconds)
        direct.labels(kind).observe(seconds)
    tally.sync()
    assert _exported(tallied_registry) == _exported(direct_registry)
    for kind, seconds in values[3:]:
        tally.observe(kind, seconds)
        direct.labels(kind).observe(seconds)
    assert _exported(tallied_registry) != _exported(direct_registry)  # not yet synced
    tally.sync()
    tally.sync()  # nothing new: nothing added twice
    assert _exported(tallied_registry) == _exported(direct_registry)
