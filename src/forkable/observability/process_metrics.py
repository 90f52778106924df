"""CPU, memory, open files and garbage collection of one process, labelled with its role.

prometheus-client's own `ProcessCollector` reads the same files but does not work with
several workers (`PROMETHEUS_MULTIPROC_DIR`): its values never reach the shared files. These
are plain metric objects instead, refreshed from `process_stats` before every scrape this
process answers and, among several workers, every second from `Metrics`' sync thread, so a
scrape answered by one worker shows each live worker's own series (the `pid` label that
prometheus-client adds to "liveall" gauges) and the CPU of all of them.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from forkable.observability import process_stats

GC_PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
ROLES = ("web", "worker")


class ProcessMetrics:
    """The process metrics of one app's registry; `refresh()` reads the machine again."""

    def __init__(self, registry: CollectorRegistry, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        self.role = role
        r = registry
        self.cpu = Counter(
            "forkable_process_cpu_seconds",
            "User and system CPU time of the process, seconds.",
            ["role"],
            registry=r,
        ).labels(role)
        self.resident = Gauge(
            "forkable_process_resident_memory_bytes",
            "Resident memory of the process, bytes.",
            ["role"],
            registry=r,
            multiprocess_mode="liveall",
        ).labels(role)
        self.open_fds = Gauge(
            "forkable_process_open_fds",
            "File descriptors the process has open.",
            ["role"],
            registry=r,
            multiprocess_mode="liveall",
        ).labels(role)
        self.max_fds = Gauge(
            "forkable_process_max_fds",
            "The process's limit on open file descriptors (soft RLIMIT_NOFILE).",
            ["role"],
            registry=r,
            multiprocess_mode="liveall",
        ).labels(role)
        self.sqlite_memory = Gauge(
            "forkable_sqlite_memory_bytes",
            "Heap SQLite holds in the process (page caches, schemas, statements), bytes.",
            ["role"],
            registry=r,
            multiprocess_mode="liveall",
        ).labels(role)
        self.host_limit = Gauge(
            "forkable_host_memory_limit_bytes",
            "Memory the process's container may use: its cgroup limit, else the machine's.",
            ["role"],
            registry=r,
            multiprocess_mode="livemax",
        ).labels(role)
        collections = Counter(
            "forkable_python_gc_collections",
            "Garbage-collector runs by generation.",
            ["role", "generation"],
            registry=r,
        )
        self.collections = [collections.labels(role, str(g)) for g in range(3)]
        self.gc_pause = Histogram(
            "forkable_python_gc_pause_seconds",
            "How long each garbage-collector run stopped the process, seconds.",
            ["role"],
            buckets=GC_PAUSE_BUCKETS,
            registry=r,
        ).labels(role)
        self.pauses = process_stats.GcPauses(GC_PAUSE_BUCKETS)
        self._lock = threading.Lock()  # a scrape and the sync thread may refresh at once
        self._cpu_seen = 0.0
        self._collections_seen = process_stats.gc_collections()
        self._pauses_seen = list(self.pauses.totals)
        # The limit of a container does not change while it runs: read once.
        self._host_limit = process_stats.host_memory_limit()

    def start(self) -> None:
        """Start timing garbage-collector pauses (a process-wide hook, removed by stop())."""
        self.pauses.start()

    def stop(self) -> None:
        self.pauses.stop()

    def refresh(self) -> None:
        """Read the process's numbers now and write them to the metric objects."""
        with self._lock:
            cpu = process_stats.cpu_seconds()
            if cpu > self._cpu_seen:
                self.cpu.inc(cpu - self._cpu_seen)
                self._cpu_seen = cpu
            for gauge, reading in (
                (self.resident, process_stats.resident_bytes()),
                (self.open_fds, process_stats.open_fds()),
                (self.max_fds, process_stats.max_fds()),
                (self.sqlite_memory, process_stats.sqlite_memory_bytes()),
                (self.host_limit, self._host_limit),
            ):
                if reading is not None:
                    gauge.set(reading)
            now = process_stats.gc_collections()
            for counter, seen, count in zip(
                self.collections, self._collections_seen, now, strict=False
            ):
                if count > seen:
                    counter.inc(count - seen)
            self._collections_seen = now
            totals = list(self.pauses.totals)
            change = [a - b for a, b in zip(totals, self._pauses_seen, strict=True)]
            if change[0]:
                add_observations(self.gc_pause, change)
            self._pauses_seen = totals


def add_observations(histogram: Histogram, change: list[float]) -> None:
    """Add many observations at once: [count, sum, per-bucket counts..., +Inf bucket].

    prometheus-client has no public call for it; these are the values `Histogram.observe`
    adds to (tests read the exported histogram back).
    """
    if change[1]:
        histogram._sum.inc(change[1])
    for bucket, added in zip(histogram._buckets, change[2:], strict=True):
        if added:
            bucket.inc(added)
