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
from tests.support.journey import samples, value

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
