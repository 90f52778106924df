"""`forkable serve --workers 2`: each worker counts in its own file, /metrics sums them all."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from tests.conftest import EXAMPLES
from tests.serving import serve
from tests.support.journey import Samples, samples, value

from forkable.db import Database
from forkable.db.migrate import upgrade

ROUTE = {"method": "GET", "route": "/brand.css", "status": "200"}


def per_process(folder: Path) -> Counter[str]:
    """GET /brand.css answers counted in each worker's own counter file, by pid."""
    counts: Counter[str] = Counter()
    for path in folder.glob("counter_*.db"):
        pid = path.stem.split("_", 1)[1]
        if path.stat().st_size == 0:
            continue  # a worker is creating it right now
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == "forkable_http_requests_total" and sample.labels == ROUTE:
                    counts[pid] += int(sample.value)
    return counts


def live_gauge_pids(folder: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[1] for path in folder.glob("gauge_live*.db")}


@pytest.mark.slow
def test_two_workers_share_one_metrics_view(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    folder = data_dir / "prometheus"
    sent = 0
    with serve(EXAMPLES / "coloringbook", data_dir, args=("--workers", "2"), timeout=60) as server:
        # Each request on a new connection: the kernel hands connections to either worker,
        # which writes its counts to its file within a second (SYNC_SECONDS).
        deadline = time.monotonic() + 20
        while len(per_process(folder)) < 2 and time.monotonic() < deadline:
            for _ in range(20):
                assert httpx.get(f"{server.url}/brand.css", timeout=10).status_code == 200
                sent += 1
        counts = per_process(folder)
        assert len(counts) == 2, f"one worker answered all {sent} requests"
        # Wait until every answered request is in some worker's file.
        deadline = time.monotonic() + 10
        while sum(per_process(folder).values()) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        counts = per_process(folder)
        assert sum(counts.values()) == sent
        assert all(count > 0 for count in counts.values())
        # Whichever worker answers the scrape reports the sum over both.
        for _ in range(6):
            found = samples(httpx.get(f"{server.url}/metrics", timeout=10).text)
            assert value(found, "forkable_http_requests_total", **ROUTE) == sent
            assert value(found, "forkable_ready", component="database") == 1
        workers = set(counts)
        assert workers <= live_gauge_pids(folder)
    # Stopped workers retire their live gauges (requests in progress).
    assert not live_gauge_pids(folder) & workers
    assert {path.stem.split("_", 1)[1] for path in folder.glob("counter_*.db")} == workers


def _by_pid(found: Samples, name: str, role: str) -> dict[str, float]:
    return {
        dict(labels)["pid"]: count
        for (sample, labels), count in found.items()
        if sample == name and dict(labels).get("role") == role
    }


@pytest.mark.slow
def test_two_workers_show_their_process_and_database_metrics(
    tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        database = Database(database_url)
        upgrade(database)  # what `forkable db upgrade` does before PostgreSQL is served
        database.dispose()
    env = {"FORKABLE_DATABASE_URL": database_url}
    with serve(
        EXAMPLES / "coloringbook", tmp_path / "var", env=env, args=("--workers", "2"), timeout=60
    ) as server:
        # Pages that read the database, on new connections so both workers answer some.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for _ in range(10):
                assert httpx.get(f"{server.url}/api/v1/packs", timeout=10).status_code == 200
            found = samples(httpx.get(f"{server.url}/metrics", timeout=10).text)
            memory = _by_pid(found, "forkable_process_resident_memory_bytes", "web")
            if len(memory) == 2 and all(memory.values()):
                break
            time.sleep(0.5)
        # One series per live worker: its own resident memory and files.
        assert len(memory) == 2, memory
        assert all(10_000_000 < rss < 4_000_000_000 for rss in memory.values())
        fds = _by_pid(found, "forkable_process_open_fds", "web")
        limits = _by_pid(found, "forkable_process_max_fds", "web")
        assert set(fds) == set(memory) == set(limits)
        assert all(0 < fds[pid] <= limits[pid] for pid in fds)
        if database_url.startswith("sqlite"):
            # Each worker's own SQLite heap: its connections' page caches.
            sqlite = _by_pid(found, "forkable_sqlite_memory_bytes", "web")
            assert set(sqlite) == set(memory)
            assert all(0 < sqlite[pid] < memory[pid] for pid in sqlite)
        # Counters are summed over the workers.
        assert value(found, "forkable_process_cpu_seconds_total", role="web") > 0
        assert value(found, "forkable_host_memory_limit_bytes", role="web") > 0
        assert value(found, "forkable_python_gc_collections_total", role="web", generation="0") > 0
        assert value(found, "forkable_db_query_duration_seconds_count", kind="select") > 0
        assert value(found, "forkable_db_pool_wait_seconds_count") > 0
        assert value(found, "forkable_db_pool_capacity") == 30  # 2 workers x (5 + 10)
        assert value(found, "forkable_db_pool_connections", state="in_use") >= 0
        assert (
            value(
                found,
                "forkable_media_call_duration_seconds_count",
                store="local",
                operation="check",
            )
            > 0
        )
