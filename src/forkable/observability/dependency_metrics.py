"""Metrics of what the app depends on: the database, Redis and the media store.

Each class here is the observer its layer calls (`forkable.db.engine.DatabaseObserver`,
`forkable.ratelimit.RedisObserver`, `forkable.storage.observed.MediaObserver`); they meet
by shape, so the lower layers never import this one. Labels are fixed words (statement kinds,
operation names), never SQL text, keys or values.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from forkable.db.engine import QUERY_KINDS, Database
from forkable.observability.tallied import TalliedHistogram

QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WAIT_BUCKETS = (
    0.0001,
    0.0005,
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
POOL_STATES = ("in_use", "idle", "overflow")


class DatabaseMetrics:
    """Statement times by kind, the connection pool, and SQLite's write-lock waits."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.pool_connections = Gauge(
            "forkable_db_pool_connections",
            "Connections of the pool by state (in_use, idle, overflow), summed over workers.",
            ["state"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.pool_capacity = Gauge(
            "forkable_db_pool_capacity",
            "Connections the pool may open (pool size + max overflow), summed over workers.",
            registry=r,
            multiprocess_mode="livesum",
        )
        pool_wait = Histogram(
            "forkable_db_pool_wait_seconds",
            "Time to get a connection from the pool (opening one included), seconds.",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        # Paid by every checkout and statement: counted in plain lists, synced at scrapes.
        self._pool_waits = TalliedHistogram({"": pool_wait}, WAIT_BUCKETS)
        self.pool_timeouts = Counter(
            "forkable_db_pool_timeouts",
            "Connections not had from the pool within its timeout.",
            registry=r,
        )
        duration = Histogram(
            "forkable_db_query_duration_seconds",
            "Statement time by kind (its first keyword: select, insert, ... other), seconds.",
            ["kind"],
            buckets=QUERY_BUCKETS,
            registry=r,
        )
        self._queries = TalliedHistogram(
            {kind: duration.labels(kind) for kind in QUERY_KINDS}, QUERY_BUCKETS
        )
        self.busy_wait_seconds = Histogram(
            "forkable_db_sqlite_busy_wait_seconds",
            "SQLite: time a write transaction waited for the write lock, seconds.",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.busy_timeouts = Counter(
            "forkable_db_sqlite_busy_timeouts",
            'SQLite: "database is locked" errors (the busy timeout ran out).',
            registry=r,
        )
        self._databases: list[Database] = []

    def watch(self, database: Database) -> None:
        """Time ``database``'s statements from now on, and read its pool at each refresh."""
        database.instrument(self)
        if database not in self._databases:
            self._databases.append(database)

    def refresh(self) -> None:
        self._queries.sync()
        self._pool_waits.sync()
        totals = dict.fromkeys(POOL_STATES, 0)
        capacity = 0
        for database in self._databases:
            status = database.pool_status()
            if status is None:
                continue
            totals["in_use"] += status.in_use
            totals["idle"] += status.idle
            totals["overflow"] += status.overflow
            capacity += status.capacity
        if self._databases:
            for state, count in totals.items():
                self.pool_connections.labels(state).set(count)
            self.pool_capacity.set(capacity)

    # -- DatabaseObserver ------------------------------------------------------------------

    def query(self, kind: str, seconds: float) -> None:
        self._queries.observe(kind, seconds)

    def pool_wait(self, seconds: float) -> None:
        self._pool_waits.observe("", seconds)

    def pool_timeout(self) -> None:
        self.pool_timeouts.inc()

    def busy_wait(self, seconds: float) -> None:
        self.busy_wait_seconds.observe(seconds)

    def busy_timeout(self) -> None:
        self.busy_timeouts.inc()


class RedisMetrics:
    """Redis calls by operation: how long they took, and those that failed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "forkable_redis_call_duration_seconds",
            "Redis calls by operation (hit, wait, give_back, clear), seconds.",
            ["operation"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "forkable_redis_errors",
            "Redis calls that failed (unreachable, timed out, refused), by operation.",
            ["operation"],
            registry=registry,
        )

    def call(self, operation: str, seconds: float, failed: bool) -> None:
        self.duration.labels(operation).observe(seconds)
        if failed:
            self.errors.labels(operation).inc()


class MediaMetrics:
    """Media-store calls by store and operation: how long they took, and those that failed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "forkable_media_call_duration_seconds",
            "Media store calls by store (local, db, s3) and operation (put, get ...), seconds.",
            ["store", "operation"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "forkable_media_errors",
            "Media store calls that failed (a missing object is not a failure), by store and "
            "operation.",
            ["store", "operation"],
            registry=registry,
        )

    def call(self, store: str, operation: str, seconds: float, failed: bool) -> None:
        self.duration.labels(store, operation).observe(seconds)
        if failed:
            self.errors.labels(store, operation).inc()
