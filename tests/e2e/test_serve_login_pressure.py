"""`forkable serve` under hostile logins: X-Forwarded-For believed only from trusted proxies,
and a burst of logins hashed a few at a time (real argon2, 64 MiB each)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.serving import serve

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "examples" / "coloringbook"
LOGIN = "/api/v1/auth/login"
PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"

pytestmark = pytest.mark.slow


def login(url: str, email: str, password: str, forwarded_for: str) -> int:
    response = httpx.post(
        url + LOGIN,
        json={"email": email, "password": password},
        headers={"x-forwarded-for": forwarded_for},
        timeout=60,
    )
    return response.status_code


def unknown() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def test_forwarded_for_from_an_untrusted_peer_changes_nothing(tmp_path: Path) -> None:
    # Loopback is not a trusted proxy here: uvicorn must not believe the header either.
    env = {"FORKABLE_TRUSTED_PROXIES": "192.0.2.1"}
    with serve(SITE, tmp_path / "var", env=env) as server:
        statuses = [login(server.url, unknown(), WRONG, f"203.0.113.{n}") for n in range(21)]
    assert statuses == [401] * 20 + [429]


def test_clients_behind_a_trusted_proxy_are_counted_apart(tmp_path: Path) -> None:
    with serve(SITE, tmp_path / "var") as server:  # trusts 127.0.0.1, the default
        signup = httpx.post(
            server.url + "/api/v1/auth/signup",
            json={"email": "ada@example.com", "password": PASSWORD},
            headers={"x-forwarded-for": "198.51.100.10"},
            timeout=60,
        )
        assert signup.status_code == 201, signup.text
        attacker = [login(server.url, "ada@example.com", WRONG, "203.0.113.66") for _ in range(6)]
        assert attacker == [401] * 5 + [429]
        assert login(server.url, "ada@example.com", PASSWORD, "198.51.100.10") == 200


def memory_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (the peak so far) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_a_burst_of_logins_stays_within_bounded_memory(tmp_path: Path) -> None:
    with serve(SITE, tmp_path / "var") as server:
        httpx.get(server.url + "/login", timeout=30)  # warm up what a login touches
        idle = memory_kib(server.process.pid, "VmRSS")
        start = threading.Barrier(30)

        def attempt(number: int) -> int:
            start.wait()
            return login(server.url, unknown(), WRONG, f"203.0.113.{number}")

        with ThreadPoolExecutor(30) as pool:
            statuses = Counter(pool.map(attempt, range(30)))
        peak = memory_kib(server.process.pid, "VmHWM")
    assert set(statuses) <= {401, 503}, statuses
    assert statuses[401] >= 2
    assert (peak - idle) / 1024 < 300, f"grew from {idle // 1024} MB to {peak // 1024} MB"
