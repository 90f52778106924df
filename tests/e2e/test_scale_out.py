"""Scale-out on real processes: `serve --no-jobs` web processes and `forkable worker` processes,
each with its own data dir as on its own machine, sharing PostgreSQL, Redis and an S3 bucket
(moto's, on loopback). The image model is the fake Gemini, slow enough that jobs are in flight
when a worker is killed or stopped."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests.factories import photo_bytes
from tests.serving import free_port, wait_until_healthy
from tests.support.s3 import S3Bucket, s3, s3_bucket  # noqa: F401  (fixtures)

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import Principal, create_api_key, create_user
from forkable.db import Database
from forkable.generations.models import Generation, hold_ref
from forkable.ledger.models import EntryKind, LedgerEntry, TokenAccount
from forkable.storage.s3 import s3_client
from forkable.testing.fake_gemini import FakeGemini, ok, slow

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "examples" / "coloringbook"
LEASE_SECONDS = 4
PREFIX = "media"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


@dataclass
class Cluster:
    """Processes started for one test, their shared services, and where each logs."""

    tmp: Path
    database_url: str
    bucket: S3Bucket
    gemini: FakeGemini
    env: dict[str, str]
    database: Database
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)

    def data_dir(self, name: str) -> Path:
        return self.tmp / name

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def launch(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """`python -m forkable ARGS` with the shared environment and its own data dir."""
        env = {**self.env, "FORKABLE_DATA_DIR": str(self.data_dir(name))}
        with self.log(name).open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "forkable", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def launch_web(self, name: str) -> str:
        port = free_port()
        self.launch(name, "serve", str(SITE), "--no-jobs", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        self.urls.append(url)
        return url

    def launch_worker(self, name: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self.launch(name, "worker", str(SITE), "--concurrency", str(concurrency))

    def wait_web(self, name: str, url: str) -> None:
        wait_until_healthy(url, self.processes[name], timeout=60)

    def wait_worker(self, name: str) -> None:
        """Until the worker logged that it runs (after its schema wait and site sync)."""
        process = self.processes[name]

        def started() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")
            return " at a time" in self.log(name).read_text(errors="replace")

        wait_until(started, timeout=60)

    def forkable(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "FORKABLE_DATA_DIR": str(self.tmp / "cli")}
        return subprocess.run(
            [sys.executable, "-m", "forkable", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def dump_logs(self) -> None:
        for name in self.processes:
            text = self.log(name).read_text(errors="replace")
            sys.stderr.write(f"\n----- {name} -----\n{text[-6000:]}")


@pytest.fixture
def cluster(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    s3_bucket: S3Bucket,  # noqa: F811
) -> Iterator[Cluster]:
    with FakeGemini() as gemini:
        env = {
            **os.environ,
            **s3_bucket.environ(),
            "FORKABLE_DATABASE_URL": postgres_url,
            "FORKABLE_REDIS_URL": redis_url,
            "FORKABLE_MEDIA_URL": f"s3://{s3_bucket.name}/{PREFIX}",
            "FORKABLE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "GEMINI_API_KEY": "scale-out-test",
            "FORKABLE_GEMINI_BASE_URL": gemini.url,
        }
        built = Cluster(tmp_path, postgres_url, s3_bucket, gemini, env, Database(postgres_url))
        try:
            yield built
        except BaseException:
            built.dump_logs()
            raise
        finally:
            built.stop_all()
            built.database.dispose()


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll every 0.2 s (each poll is a database query), up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout} s")
        time.sleep(0.2)


def _up(cluster: Cluster, *, webs: int = 2, workers: int = 2) -> list[str]:
    """Schema first, then the processes; the web URLs once every one of them is ready."""
    upgraded = cluster.forkable("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    urls = [cluster.launch_web(f"web{i}") for i in range(1, webs + 1)]
    for i in range(1, workers + 1):
        cluster.launch_worker(f"worker{i}")
    for i, url in enumerate(urls, start=1):
        cluster.wait_web(f"web{i}", url)
    for i in range(1, workers + 1):
        cluster.wait_worker(f"worker{i}")
    return urls


@dataclass(frozen=True)
class Customer:
    user_id: int
    api_key: str


def _customers(cluster: Cluster, count: int, tokens: int) -> list[Customer]:
    """Users of the site with tokens and an API key, made straight in the shared database."""
    made = []
    for _ in range(count):
        user = create_user(
            cluster.database,
            fast_passwords(),
            site_id="coloringbook",
            email=f"{secrets.token_hex(5)}@example.com",
            password=secrets.token_urlsafe(16),
            signup_bonus=tokens,
        )
        principal = Principal(user.id, user.site_id, user.email, False, "session")
        made.append(Customer(user.id, create_api_key(cluster.database, principal, "scale").key))
    return made


def _submit(url: str, customer: Customer, photo: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/generations",
        files={"image": ("photo.jpg", photo, "image/jpeg")},
        headers={"authorization": f"Bearer {customer.api_key}"},
        timeout=60,
    )


def _rows(cluster: Cluster) -> list[Generation]:
    with cluster.database.session() as session:
        return list(session.scalars(select(Generation).order_by(Generation.created_at)))


def _wait_all_finished(cluster: Cluster, count: int, timeout: float) -> list[Generation]:
    def finished() -> bool:
        rows = _rows(cluster)
        return len(rows) == count and all(r.status in ("succeeded", "failed") for r in rows)

    wait_until(finished, timeout=timeout)
    return _rows(cluster)


def _bucket_keys(cluster: Cluster) -> set[str]:
    client = s3_client(cluster.bucket.environ())
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=cluster.bucket.name):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def _images_on_disk(cluster: Cluster) -> list[Path]:
    return [
        path
        for path in cluster.tmp.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]


def test_forty_generations_across_two_webs_and_two_workers_one_worker_killed(
    cluster: Cluster,
) -> None:
    cluster.gemini.default = slow(0.4)
    urls = _up(cluster)
    customers = _customers(cluster, count=8, tokens=10)
    photo = photo_bytes(size=160)
    # 8 users x 5: under the per-minute limit of 6, spread over both web processes.
    orders = [(urls[i % 2], customers[i % 8]) for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda order: _submit(order[0], order[1], photo), orders))
    refused = [answer.text for answer in answers if answer.status_code != 202]
    assert [answer.status_code for answer in answers] == [202] * 40, refused

    killed = cluster.processes["worker1"]
    holder = f":{killed.pid}:"  # in the owner of every lease the worker takes

    def some_done_while_the_worker_makes_two() -> bool:
        # Both of its slots busy, so that a call ending in the instant before the kill still
        # leaves it one to lose (a check of any running job could find only the other's).
        rows = _rows(cluster)
        making = [r for r in rows if r.status == "running" and holder in (r.lease_owner or "")]
        return sum(r.status == "succeeded" for r in rows) >= 6 and len(making) == 2

    wait_until(some_done_while_the_worker_makes_two, timeout=60)
    killed.send_signal(signal.SIGKILL)  # no shutdown code runs: its leases just expire
    killed.wait()

    rows = _wait_all_finished(cluster, 40, timeout=120)
    assert Counter(row.status for row in rows) == {"succeeded": 40}
    assert all(row.hold_state == "captured" for row in rows)
    # The killed worker's jobs were made again by the other one.
    assert any(row.attempts > 1 for row in rows)

    with cluster.database.session() as session:
        entries = list(session.scalars(select(LedgerEntry)))
        accounts = list(session.scalars(select(TokenAccount)))
    # Exactly one hold and one capture per generation, whoever made it and how often.
    holds = Counter(e.ref for e in entries if e.kind == EntryKind.GENERATION_HOLD)
    captures = Counter(e.hold_ref for e in entries if e.kind == EntryKind.GENERATION_CAPTURE)
    assert not [e for e in entries if e.kind == EntryKind.GENERATION_VOID]
    expected = Counter(hold_ref(row.id) for row in rows)
    assert holds == captures == expected
    assert sorted((account.balance, account.held) for account in accounts) == [(5, 0)] * 8

    verify = cluster.forkable("ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "ledger ok" in verify.stdout

    keys = _bucket_keys(cluster)
    for row in rows:
        assert row.output_key is not None and f"{PREFIX}/{row.output_key}" in keys
        assert row.input_key is not None and f"{PREFIX}/{row.input_key}" in keys
    assert _images_on_disk(cluster) == []
    for url in urls:
        result = httpx.get(
            f"{url}/api/v1/generations/{rows[0].id}/result",
            headers={"authorization": f"Bearer {_owner_key(customers, rows[0])}"},
            timeout=30,
        )
        assert result.status_code == 200
        assert result.content.startswith(b"\x89PNG")


def _owner_key(customers: list[Customer], row: Generation) -> str:
    return next(c.api_key for c in customers if c.user_id == row.user_id)


def test_the_per_minute_limit_holds_across_two_web_processes(cluster: Cluster) -> None:
    cluster.gemini.default = ok()
    urls = _up(cluster, workers=1)
    (customer,) = _customers(cluster, count=1, tokens=20)
    photo = photo_bytes(size=96)
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda i: _submit(urls[i % 2], customer, photo), range(20)))
    codes = Counter(answer.status_code for answer in answers)
    assert codes == {202: 6, 429: 14}, [a.text for a in answers if a.status_code not in (202, 429)]
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    rows = _wait_all_finished(cluster, 6, timeout=60)
    assert {row.status for row in rows} == {"succeeded"}


def test_everything_started_at_the_same_moment_comes_up(cluster: Cluster) -> None:
    """As compose and Kubernetes start them: the migration, two webs and two workers at once,
    on an empty database. The others wait for the schema; site sync is an upsert."""
    cluster.gemini.default = ok()
    migrate = subprocess.Popen(
        [sys.executable, "-m", "forkable", "db", "upgrade"],
        env={**cluster.env, "FORKABLE_DATA_DIR": str(cluster.tmp / "cli")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    urls = [cluster.launch_web("web1"), cluster.launch_web("web2")]
    cluster.launch_worker("worker1")
    cluster.launch_worker("worker2")
    output, _ = migrate.communicate(timeout=120)
    assert migrate.returncode == 0, output.decode(errors="replace")
    for i, url in enumerate(urls, start=1):
        cluster.wait_web(f"web{i}", url)
    cluster.wait_worker("worker1")
    cluster.wait_worker("worker2")
    for name, process in cluster.processes.items():
        assert process.poll() is None, name
        assert "Traceback" not in cluster.log(name).read_text(errors="replace"), name

    (customer,) = _customers(cluster, count=1, tokens=4)
    photo = photo_bytes(size=96)
    for url in urls:
        assert _submit(url, customer, photo).status_code == 202
    rows = _wait_all_finished(cluster, 2, timeout=60)
    assert {row.status for row in rows} == {"succeeded"}


def test_a_worker_stopped_with_sigterm_returns_its_jobs_within_the_lease(
    cluster: Cluster,
) -> None:
    """Its jobs outlast the graceful wait (the model hangs): it hands them back and exits
    before their lease would run out, and the next worker makes them, each paid once."""
    cluster.gemini.default = ok()
    cluster.gemini.script(slow(60), slow(60))
    # A longer lease than the other tests: the worker waits half of it, then hands back and
    # exits; with 4 s, a busy machine's slow process exit alone could cross the line.
    lease = 10
    cluster.env["FORKABLE_JOB_LEASE_SECONDS"] = str(lease)
    (url,) = _up(cluster, webs=1, workers=1)
    (customer,) = _customers(cluster, count=1, tokens=5)
    photo = photo_bytes(size=96)
    for _ in range(2):
        assert _submit(url, customer, photo).status_code == 202
    wait_until(lambda: [r.status for r in _rows(cluster)] == ["running"] * 2, timeout=30)

    stopping = cluster.processes["worker1"]
    started = time.monotonic()
    stopping.send_signal(signal.SIGTERM)
    stopping.wait(timeout=lease * 3)
    took = time.monotonic() - started
    assert took < lease, f"the worker took {took:.1f} s to stop"
    assert stopping.returncode == 0, cluster.log("worker1").read_text(errors="replace")
    returned = _rows(cluster)
    assert {(row.status, row.hold_state) for row in returned} == {("queued", "open")}

    cluster.launch_worker("worker2")
    cluster.wait_worker("worker2")
    rows = _wait_all_finished(cluster, 2, timeout=60)
    assert {(row.status, row.hold_state) for row in rows} == {("succeeded", "captured")}
    verify = cluster.forkable("ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
