"""Per-request metrics counted in plain Python and handed to Prometheus in batches.

Every request adds to a request counter and a latency histogram and moves an in-progress
gauge. Through prometheus-client each of those is a few method calls and a lock (or, with
several workers, a write to a memory-mapped file), about as much as the rest of the
instrumentation together. Here a request adds to a list of numbers instead (count, sum of
seconds, one histogram bucket) in a dict of its thread, and `sync()` adds what changed since
the last sync to the Prometheus metrics, which stay the only thing read and exported.

`Metrics` syncs before every read in its process (`/metrics`, alert snapshots), so a
single-process server reports exact values; with several workers (`PROMETHEUS_MULTIPROC_DIR`)
each worker also syncs every `SYNC_SECONDS` from a thread and once more when it stops, so a
scrape answered by one worker sees the others' requests at most that late.

Each thread that serves requests (one event loop in `forkable serve`; test clients run one
each) counts in its own dict and is the only writer of it, so no lock is taken per request.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from forkable.periodic import Periodic

# Anything else a client invents would be a new series: count it as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SYNC_SECONDS = 1.0

# (method, route template, status) -> [count, sum of seconds, count per bucket..., +Inf bucket]
Series = dict[tuple[str, str, int], list[float]]


class ThreadTally:
    """The counts of the requests one thread has served; only that thread writes them."""

    __slots__ = ("bounds", "in_progress", "series")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.series: Series = {}
        self.in_progress = 0

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        counts = self.series.get(key)
        if counts is None:
            if method not in METHODS:
                key = ("other", route, status)
            counts = self.series.setdefault(key, [0] * (len(self.bounds) + 3))
        counts[0] += 1
        counts[1] += seconds
        # Prometheus buckets are "less than or equal": the first bound >= seconds.
        counts[bisect_left(self.bounds, seconds) + 2] += 1


class RequestTally:
    """Every thread's `ThreadTally`, and the sync that adds their news to Prometheus."""

    def __init__(
        self, requests: Counter, duration: Histogram, in_progress: Gauge, bounds: Sequence[float]
    ) -> None:
        self._requests = requests
        self._duration = duration
        self._in_progress = in_progress
        self._bounds = tuple(bounds)
        self._local = threading.local()
        self._threads: list[ThreadTally] = []
        self._lock = threading.Lock()  # taken by new threads and by sync, never per request
        self._synced: dict[tuple[str, str, int], list[float]] = {}
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._syncer = Periodic("forkable-metrics-sync", SYNC_SECONDS, self.sync)

    def for_this_thread(self) -> ThreadTally:
        try:
            tally: ThreadTally = self._local.tally
        except AttributeError:
            tally = self._local.tally = ThreadTally(self._bounds)
            with self._lock:
                self._threads.append(tally)
        return tally

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        self.for_this_thread().record(method, route, status, seconds)

    def sync(self) -> None:
        """Add every count since the last sync to the Prometheus metrics."""
        with self._lock:
            totals: dict[tuple[str, str, int], list[float]] = {}
            in_progress = 0
            for tally in self._threads:
                in_progress += tally.in_progress
                # Copies made in C under the GIL: the serving thread may add to them meanwhile.
                for key, counts in list(tally.series.items()):
                    total = totals.get(key)
                    totals[key] = list(counts) if total is None else _added(total, counts)
            for key, total in totals.items():
                before = self._synced.get(key)
                if before != total:
                    self._push(key, total if before is None else _minus(total, before))
                    self._synced[key] = total
            self._in_progress.set(in_progress)

    def _push(self, key: tuple[str, str, int], change: list[float]) -> None:
        children = self._children.get(key)
        if children is None:
            method, route, status = key
            children = (
                self._requests.labels(method, route, str(status)),
                self._duration.labels(method, route),
            )
            self._children[key] = children
        requests, duration = children
        if change[0]:
            requests.inc(change[0])
        # prometheus-client has no public call that adds many observations at once; these
        # are the values `Histogram.observe` adds to (tests read the exported histogram back).
        if change[1]:
            duration._sum.inc(change[1])
        for bucket, added in zip(duration._buckets, change[2:], strict=True):
            if added:
                bucket.inc(added)

    def start(self) -> None:
        """Sync every `SYNC_SECONDS` from a thread (for workers whose files others read)."""
        self._syncer.start()

    def stop(self) -> None:
        """Stop the syncing thread, then sync what is left."""
        self._syncer.stop()
        self.sync()


def _added(left: list[float], right: list[float]) -> list[float]:
    return [a + b for a, b in zip(left, right, strict=True)]


def _minus(left: list[float], right: list[float]) -> list[float]:
    return [a - b for a, b in zip(left, right, strict=True)]
