"""Histogram observations counted in plain lists and handed to Prometheus at each sync.

`Histogram.observe` takes a lock per value it changes and, with several workers
(`PROMETHEUS_MULTIPROC_DIR`), writes each to a memory-mapped file: about 1.5 µs in one
process and 3.5 µs among workers, paid by every database statement. Here an observation is
one lock and a few list additions (a fraction of that); `sync()` adds what changed since the
last sync to the histogram children, which stay the only thing read and exported. `Metrics`
syncs before every scrape it answers and, among several workers, every second.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Mapping, Sequence

from prometheus_client import Histogram

from forkable.observability.process_metrics import add_observations


class TalliedHistogram:
    """Observations under a few fixed keys (a label value each), synced in batches."""

    def __init__(self, children: Mapping[str, Histogram], bounds: Sequence[float]) -> None:
        self._children = dict(children)
        self._bounds = tuple(bounds)
        width = len(self._bounds) + 3  # count, sum, each bucket, +Inf
        # key -> [count, sum of seconds, count per bucket..., +Inf bucket], since the start
        self._totals = {key: [0.0] * width for key in self._children}
        self._synced = {key: [0.0] * width for key in self._children}
        self._lock = threading.Lock()

    def observe(self, key: str, seconds: float) -> None:
        bucket = bisect_left(self._bounds, seconds) + 2  # Prometheus buckets are "<= bound"
        with self._lock:
            totals = self._totals[key]
            totals[0] += 1
            totals[1] += seconds
            totals[bucket] += 1

    def sync(self) -> None:
        with self._lock:
            totals = {key: list(counts) for key, counts in self._totals.items()}
        for key, now in totals.items():
            before = self._synced[key]
            if now[0] != before[0]:
                add_observations(
                    self._children[key], [a - b for a, b in zip(now, before, strict=True)]
                )
                self._synced[key] = now
