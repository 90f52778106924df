"""A server killed with SIGKILL mid-generation loses no job and no token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select
from tests.factories import PASSWORD, photo_bytes
from tests.serving import free_port, serve, wait_until_healthy
from tests.support.mailbox import verify_from_mail

from forkable.db import Database
from forkable.generations.models import Generation
from forkable.ledger.models import TokenAccount

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "examples" / "coloringbook"


def _poll(
    client: httpx.Client, generation_id: str, want: set[str], timeout: float
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get(f"/api/v1/generations/{generation_id}").json()
        if body["status"] in want:
            return body
        time.sleep(0.05)
    raise TimeoutError(f"{generation_id} never reached {want}")


def _job_and_account(database_url: str, generation_id: str) -> tuple[Generation, TokenAccount]:
    database = Database(database_url)
    try:
        with database.session() as session:
            row = session.get(Generation, generation_id)
            assert row is not None
            account = session.scalar(
                select(TokenAccount).where(TokenAccount.user_id == row.user_id)
            )
            assert account is not None
            return row, account
    finally:
        database.dispose()


def test_sigkill_mid_generation_then_restart(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    env = {
        **os.environ,
        "FORKABLE_DATA_DIR": str(data_dir),
        "FORKABLE_DATABASE_URL": database_url,
        "FORKABLE_JOB_LEASE_SECONDS": "2",
    }
    if not database_url.startswith("sqlite"):
        subprocess.run(
            [sys.executable, "-m", "forkable", "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
        )
    port = free_port()
    slow = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/support/slow_serve.py"), str(SITE), str(port), "60"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, slow, timeout=30)
        with httpx.Client(base_url=url, timeout=30) as client:
            signup = client.post(
                "/api/v1/auth/signup", json={"email": "k@example.com", "password": PASSWORD}
            )
            verify_from_mail(client, data_dir, "k@example.com")
            csrf = signup.json()["csrf_token"]
            submitted = client.post(
                "/api/v1/generations",
                files={"image": ("p.jpg", photo_bytes(), "image/jpeg")},
                headers={"x-csrf-token": csrf},
            )
            assert submitted.status_code == 202
            generation_id = submitted.json()["id"]
            _poll(client, generation_id, {"running"}, timeout=20)
            cookies = dict(client.cookies)
    finally:
        slow.kill()  # SIGKILL: no shutdown hook runs
        slow.wait()

    # What the killed process left: the job mid-flight, its token held, nothing resolved.
    row, account = _job_and_account(database_url, generation_id)
    assert (row.status, row.attempts, row.hold_state) == ("running", 1, "open")
    assert (account.balance, account.held) == (3, 1)

    with serve(
        SITE, data_dir, env={k: v for k, v in env.items() if k != "FORKABLE_DATA_DIR"}
    ) as server:
        with httpx.Client(base_url=server.url, timeout=30, cookies=cookies) as client:
            done = _poll(client, generation_id, {"succeeded", "failed"}, timeout=30)
            assert done["status"] == "succeeded"
            me = client.get("/api/v1/me").json()
            assert (me["balance"], me["held"]) == (2, 0)
    # Made again by the new process after its lease expired, and paid for once.
    row, account = _job_and_account(database_url, generation_id)
    assert (row.status, row.attempts, row.hold_state) == ("succeeded", 2, "captured")
    verify = subprocess.run(
        [sys.executable, "-m", "forkable", "ledger", "verify"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    assert "ledger ok" in verify.stdout
