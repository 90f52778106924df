"""Process metrics in the exposition: labelled by role, refreshed at each scrape."""

from __future__ import annotations

import gc
import sqlite3
import sys

import pytest
from tests.support.metrics import exported

from forkable.observability.metrics import Metrics

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux
def test_a_scrape_reads_the_process_now() -> None:
    metrics = Metrics(role="worker")
    with sqlite3.connect(":memory:") as db:  # a process that uses SQLite
        db.execute("CREATE TABLE t (x)")
        found = exported(metrics)
    role = (("role", "worker"),)
    assert found[("forkable_process_cpu_seconds_total", role)] > 0
    assert found[("forkable_process_resident_memory_bytes", role)] > 10_000_000
    assert (
        0 < found[("forkable_process_open_fds", role)] <= found[("forkable_process_max_fds", role)]
    )
    assert found[("forkable_host_memory_limit_bytes", role)] > 0
    assert found[("forkable_sqlite_memory_bytes", role)] > 0
    burnt = sum(i * i for i in range(300_000))
    assert burnt > 0
    assert (
        exported(metrics)[("forkable_process_cpu_seconds_total", role)]
        >= found[("forkable_process_cpu_seconds_total", role)]
    )


def test_collections_and_pauses_are_counted_once_started() -> None:
    metrics = Metrics()
    metrics.start()
    try:
        before = exported(metrics)
        gc.collect()
        after = exported(metrics)
    finally:
        metrics.stop()
    full = ("forkable_python_gc_collections_total", (("generation", "2"), ("role", "web")))
    assert after[full] >= before[full] + 1
    pauses = ("forkable_python_gc_pause_seconds_count", (("role", "web"),))
    assert after[pauses] >= before[pauses] + 1
    assert after[("forkable_python_gc_pause_seconds_sum", (("role", "web"),))] > 0


def test_a_role_is_web_or_worker() -> None:
    with pytest.raises(ValueError, match="role"):
        Metrics(role="cron")


def test_switched_off_metrics_read_nothing() -> None:
    metrics = Metrics(enabled=False)
    metrics.start()
    metrics.stop()
    assert exported(metrics)[("forkable_process_cpu_seconds_total", (("role", "web"),))] == 0
