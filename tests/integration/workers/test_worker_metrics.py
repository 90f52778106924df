"""A worker's metrics: the jobs it runs are counted in its own `Metrics`, and
`forkable worker --metrics-port` (a real process) answers /metrics on loopback with its
process and database metrics, labelled role="worker"."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import EXAMPLES
from tests.integration.workers.conftest import MakeUser, submit
from tests.serving import free_port
from tests.support.journey import Samples, samples, value

from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.services import Services
from forkable.workers.process import QueueWorker

pytestmark = pytest.mark.postgres


def scrape(url: str, process: subprocess.Popen[bytes], timeout: float) -> Samples:
    """The worker's metrics once it answers and has run a query of its own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}")
        try:
            found = samples(httpx.get(url, timeout=2).text)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if found.get(("forkable_db_query_duration_seconds_count", frozenset({("kind", "select")}))):
            return found
        time.sleep(0.5)
    raise TimeoutError(f"{url} showed no query in {timeout} s")


def test_a_worker_counts_the_jobs_it_runs(
    web: Services, worker: QueueWorker, make_user: MakeUser
) -> None:
    generation_id = submit(web, make_user(3))
    assert asyncio.run(worker.run_generation(generation_id)) == "succeeded"
    found = samples(worker.metrics.exposition().decode())
    made = {"site": "coloringbook", "style": "default", "outcome": "succeeded"}
    assert (
        sum(
            count
            for (name, labels), count in found.items()
            if name == "forkable_generations_total" and made.items() <= dict(labels).items()
        )
        == 1
    )
    # The job read the photo and wrote the result through the observed store.
    assert (
        value(found, "forkable_media_call_duration_seconds_count", store="local", operation="get")
        >= 1
    )
    assert (
        value(found, "forkable_media_call_duration_seconds_count", store="local", operation="put")
        >= 1
    )
    assert value(found, "forkable_db_query_duration_seconds_count", kind="update") >= 1
    assert value(found, "forkable_process_resident_memory_bytes", role="worker") > 0


@pytest.mark.slow
def test_a_worker_serves_its_metrics(tmp_path: Path, postgres_url: str) -> None:
    database = Database(postgres_url)
    upgrade(database)
    database.dispose()
    port = free_port()
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "FORKABLE_DATABASE_URL": postgres_url,
        "FORKABLE_DATA_DIR": str(tmp_path / "var"),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "forkable", "worker", str(EXAMPLES / "coloringbook")),
                *("--concurrency", "1", "--metrics-port", str(port)),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # The maintenance jobs (mail every 10 s, the sweep every 15 s) query the database.
        found = scrape(f"http://127.0.0.1:{port}/metrics", process, timeout=60)
        assert value(found, "forkable_process_cpu_seconds_total", role="worker") > 0
        assert value(found, "forkable_process_resident_memory_bytes", role="worker") > 10_000_000
        assert value(found, "forkable_process_open_fds", role="worker") > 0
        assert value(found, "forkable_process_max_fds", role="worker") > 0
        assert value(found, "forkable_host_memory_limit_bytes", role="worker") > 0
        assert ("forkable_python_gc_pause_seconds_count", frozenset({("role", "worker")})) in found
        assert value(found, "forkable_db_pool_capacity") == 15
        assert value(found, "forkable_db_pool_wait_seconds_count") > 0
        assert "worker metrics on http://127.0.0.1:" in log.read_text(errors="replace")
        assert not any(dict(labels).get("role") == "web" for _, labels in found)
    except Exception:
        sys.stderr.write(log.read_text(errors="replace")[-6000:])
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text(errors="replace")[-3000:]
