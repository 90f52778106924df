"""A server killed between writing the credit and committing the event record, then a
redelivery: one credit. And `forkable payments reconcile` run twice: one credit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests.factories import PASSWORD
from tests.serving import free_port, serve, wait_until_healthy
from tests.support.mailbox import verify_from_mail
from tests.support.waiting import wait_until

from forkable.db import Database
from forkable.mail.models import OutboxMail
from forkable.testing.fake_stripe import FakeStripe

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "examples" / "coloringbook"


@pytest.fixture
def environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "FORKABLE_DATA_DIR": str(tmp_path / "var"),
        "FORKABLE_DATABASE_URL": database_url,
    }


def _stripe_env(environ: dict[str, str], fake: FakeStripe) -> dict[str, str]:
    return {
        **environ,
        "STRIPE_SECRET_KEY": fake.api_key,
        "STRIPE_WEBHOOK_SECRET": fake.webhook_secret,
        "FORKABLE_STRIPE_API_BASE": fake.url,
    }


def _buy(client: httpx.Client, fake: FakeStripe, data_dir: Path) -> tuple[str, str]:
    signup = client.post(
        "/api/v1/auth/signup", json={"email": "b@example.com", "password": PASSWORD}
    )
    csrf = signup.json()["csrf_token"]
    verify_from_mail(client, data_dir, "b@example.com")
    purchase_id = client.post(
        "/api/v1/checkout", json={"pack_id": "starter"}, headers={"x-csrf-token": csrf}
    ).json()["purchase_id"]
    session_id = next(
        s["id"] for s in fake.sessions.values() if s["client_reference_id"] == purchase_id
    )
    return purchase_id, session_id


def _ledger_ok(environ: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "forkable", "ledger", "verify"],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _upgrade(environ: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "forkable", "db", "upgrade"],
        env=environ,
        check=True,
        capture_output=True,
    )


def test_crash_inside_the_webhook_transaction_then_redelivery(
    environment: dict[str, str], tmp_path: Path
) -> None:
    mark = tmp_path / "inside-the-transaction"
    with FakeStripe() as fake:
        environ = _stripe_env(environment, fake)
        _upgrade(environ)
        port = free_port()
        paused = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/support/paused_webhook_serve.py"),
                str(SITE),
                str(port),
                str(mark),
            ],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, paused, timeout=30)
            with httpx.Client(base_url=url, timeout=30) as client:
                purchase_id, session_id = _buy(client, fake, Path(environment["FORKABLE_DATA_DIR"]))
                cookies = dict(client.cookies)
            event = fake.complete_session(session_id)
            hung = threading.Thread(
                target=lambda: _swallow(
                    lambda: fake.deliver(event, f"{url}/api/v1/webhooks/stripe")
                ),
                daemon=True,
            )
            hung.start()
            # The server marks the point: the credit is flushed, the transaction still open.
            wait_until(mark.exists, timeout=30)
            assert mark.read_text() == "checkout.session.completed: credited\n"
            assert paused.poll() is None
        finally:
            paused.kill()
            paused.wait()
        hung.join(10)

        with serve(SITE, Path(environ["FORKABLE_DATA_DIR"]), env=environ) as server:
            with httpx.Client(base_url=server.url, timeout=30, cookies=cookies) as client:
                # Nothing survived the crash: not the credit, not the event record.
                assert client.get("/api/v1/me").json()["balance"] == 3
                redelivered = fake.deliver(event, f"{server.url}/api/v1/webhooks/stripe")
                assert redelivered.status_code == 200
                assert redelivered.json()["outcome"] == "credited"
                again = fake.deliver(event, f"{server.url}/api/v1/webhooks/stripe")
                assert again.json()["outcome"] == "duplicate"
                assert client.get("/api/v1/me").json()["balance"] == 23
                assert client.get(f"/api/v1/purchases/{purchase_id}").json()["status"] == "paid"
        _ledger_ok(environ)


def _swallow(call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except httpx.HTTPError:
        pass  # the server died mid-request, as intended


def test_reconcile_credits_a_missed_webhook_once(environment: dict[str, str]) -> None:
    with FakeStripe() as fake:
        environ = _stripe_env(environment, fake)
        _upgrade(environ)
        with serve(SITE, Path(environ["FORKABLE_DATA_DIR"]), env=environ) as server:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                purchase_id, session_id = _buy(client, fake, Path(environment["FORKABLE_DATA_DIR"]))
                fake.complete_session(session_id)  # paid; the webhook never arrives
                _other_purchase, open_session = _buy_again(client, fake)

                def reconcile() -> subprocess.CompletedProcess[str]:
                    return subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "forkable",
                            "payments",
                            "reconcile",
                            "--since",
                            "1h",
                        ],
                        env={**environ, "FORKABLE_SITES": str(SITE)},
                        capture_output=True,
                        text=True,
                        check=False,
                    )

                first = reconcile()
                assert first.returncode == 0, first.stderr
                assert f"credited purchase {purchase_id} (session {session_id})" in first.stdout
                assert open_session not in first.stdout  # unpaid sessions are left alone
                assert client.get("/api/v1/me").json()["balance"] == 23
                second = reconcile()
                assert second.returncode == 0
                assert "credited purchase" not in second.stdout
                assert "1 already credited" in second.stdout
                assert client.get("/api/v1/me").json()["balance"] == 23
        _ledger_ok(environ)
    # The credit from the command line queued the buyer's receipt with it, once.
    assert _receipts(environ["FORKABLE_DATABASE_URL"]) == [f"receipt:{purchase_id}"]


def _receipts(database_url: str) -> list[str]:
    database = Database(database_url)
    try:
        with database.session() as session:
            return list(
                session.scalars(
                    select(OutboxMail.event_key).where(OutboxMail.kind == "purchase_receipt")
                )
            )
    finally:
        database.dispose()


def _buy_again(client: httpx.Client, fake: FakeStripe) -> tuple[str, str]:
    csrf = client.get("/api/v1/me")  # still signed in; fetch a fresh CSRF token via login
    assert csrf.status_code == 200
    login = client.post("/api/v1/auth/login", json={"email": "b@example.com", "password": PASSWORD})
    token = login.json()["csrf_token"]
    purchase_id = client.post(
        "/api/v1/checkout", json={"pack_id": "family"}, headers={"x-csrf-token": token}
    ).json()["purchase_id"]
    session_id = next(
        s["id"] for s in fake.sessions.values() if s["client_reference_id"] == purchase_id
    )
    return purchase_id, session_id
