"""Login and sign-up under hostile traffic, on a real server: attempts counted before the
password is hashed, hashes bounded, throttles per (site, account, client address)."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.factories import PASSWORD
from tests.serving import serve_app_in_thread
from tests.support.hashers import CountingHasher

from forkable.accounts.hash_slots import HashSlots
from forkable.accounts.passwords import Passwords, fast_passwords
from forkable.app import build_services, create_app
from forkable.settings import Settings
from forkable.sites import SiteRegistry

HOST = "coloringbook.localhost"
OTHER_HOST = "pencilsketch.localhost"
SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
WRONG = "not the password at all"


def fresh_ip() -> str:
    """A client address no earlier run left counts under (Redis keeps them for the window)."""
    return f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def fresh_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def redis_or_none(request: pytest.FixtureRequest) -> str | None:
    """The rate limits' backend: this process's memory, or a real Redis."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url


@dataclass
class Served:
    url: str
    hasher: CountingHasher

    def client(self, ip: str, host: str = HOST) -> httpx.Client:
        """A client whose address the server takes from X-Forwarded-For (it trusts loopback)."""
        return httpx.Client(
            base_url=self.url, headers={"host": host, "x-forwarded-for": ip}, timeout=30
        )


ServeApp = Callable[..., AbstractContextManager[Served]]


@pytest.fixture
def serve_app(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], tmp_path: Path
) -> ServeApp:
    """Start the app on a real server with an instrumented, real argon2 hasher."""

    @contextmanager
    def start(
        hasher: CountingHasher, redis_url: str | None, slots: HashSlots | None = None
    ) -> Iterator[Served]:
        settings = settings_factory(
            database_url=f"sqlite:///{tmp_path / 'forkable.sqlite3'}", redis_url=redis_url
        )
        passwords = Passwords(hasher) if slots is None else Passwords(hasher, slots)
        services = build_services(registry, settings, passwords=passwords)
        app = create_app(registry, settings, services=services, migrate=True, run_jobs=False)
        try:
            with serve_app_in_thread(app) as url:
                yield Served(url, hasher)
        finally:
            services.database.dispose()

    return start


def test_parallel_wrong_passwords_reach_verification_only_up_to_the_limit(
    serve_app: ServeApp, redis_or_none: str | None
) -> None:
    # Each check takes ~20 ms, as a real one takes ~100: long enough for guesses sent at once
    # to overlap, as they did when the throttle checked first and counted after.
    hasher = CountingHasher(memory_cost=8192, time_cost=2)
    with serve_app(hasher, redis_or_none) as served:
        email, ip = fresh_email(), fresh_ip()
        with served.client(ip) as client:
            assert client.post(SIGNUP, json={"email": email, "password": PASSWORD}).is_success
        verified_before = hasher.verified
        start = threading.Barrier(30)

        def attempt(_: int) -> httpx.Response:
            with served.client(ip) as client:
                start.wait()
                return client.post(LOGIN, json={"email": email, "password": WRONG})

        with ThreadPoolExecutor(30) as pool:
            responses = list(pool.map(attempt, range(30)))
    assert Counter(r.status_code for r in responses) == {401: 5, 429: 25}
    assert hasher.verified - verified_before == 5
    assert all(int(r.headers["retry-after"]) >= 1 for r in responses if r.status_code == 429)


def test_hashes_never_run_more_than_the_slots_at_once(
    serve_app: ServeApp, redis_or_none: str | None
) -> None:
    hasher = CountingHasher(gated=True)
    slots = HashSlots(2, wait_seconds=0.2)
    with serve_app(hasher, redis_or_none, slots) as served:
        ip = fresh_ip()
        start = threading.Barrier(8)

        def attempt(_: int) -> httpx.Response:
            with served.client(ip) as client:
                start.wait()
                return client.post(LOGIN, json={"email": fresh_email(), "password": WRONG})

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(attempt, number) for number in range(8)]
            hasher.wait_running(2)
            # Both slots stay taken: the six others are refused after their short wait.
            finished = as_completed(futures, timeout=30)
            busy = [next(finished).result() for _ in range(6)]
            hasher.gate.set()
            checked = [next(finished).result() for _ in range(2)]
    assert hasher.peak == 2
    assert [r.status_code for r in busy] == [503] * 6
    assert {r.json()["error"]["code"] for r in busy} == {"busy"}
    assert {r.headers["retry-after"] for r in busy} == {"1"}
    assert [r.status_code for r in checked] == [401, 401]


@pytest.fixture
def proxied_app(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], tmp_path: Path
) -> Iterator[Callable[[str], TestClient]]:
    """The app behind a proxy on 10.0.0.0/8; ``connect(peer)`` is a client from ``peer``."""
    settings = settings_factory(
        database_url=f"sqlite:///{tmp_path / 'forkable.sqlite3'}",
        trusted_proxies=("10.0.0.0/8",),
    )
    services = build_services(registry, settings, passwords=fast_passwords())
    app = create_app(registry, settings, services=services, migrate=True, run_jobs=False)
    clients: list[TestClient] = []

    def connect(peer: str) -> TestClient:
        clients.append(TestClient(app, base_url=f"http://{HOST}", client=(peer, 40000)))
        return clients[-1]

    with TestClient(app):  # runs the app's lifespan, once
        yield connect
    for client in clients:
        client.close()
    services.database.dispose()


def login(client: TestClient, ip: str, email: str, password: str) -> int:
    response = client.post(
        LOGIN, json={"email": email, "password": password}, headers={"x-forwarded-for": ip}
    )
    return response.status_code


def test_two_clients_behind_a_trusted_proxy_are_throttled_apart_and_the_owner_gets_in(
    proxied_app: Callable[[str], TestClient],
) -> None:
    proxy = proxied_app("10.0.0.2")
    owner, attacker, neighbour = "203.0.113.10", "198.51.100.66", "198.51.100.67"
    signup = proxy.post(
        SIGNUP,
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"x-forwarded-for": owner},
    )
    assert signup.status_code == 201
    proxy.cookies.clear()
    assert [login(proxy, attacker, "ada@example.com", WRONG) for _ in range(6)] == [401] * 5 + [429]
    # Another client behind the same proxy has its own count; the owner logs in.
    assert login(proxy, neighbour, "ada@example.com", WRONG) == 401
    assert login(proxy, owner, "ada@example.com", PASSWORD) == 200
    # What a client writes into X-Forwarded-For itself (left of the proxy's hop) is ignored.
    spoofed = f"{neighbour}, {attacker}"
    assert login(proxy, spoofed, "ada@example.com", PASSWORD) == 429


def test_an_untrusted_peers_forwarded_for_is_ignored(
    proxied_app: Callable[[str], TestClient],
) -> None:
    direct = proxied_app("192.0.2.50")
    for number in range(5):
        assert login(direct, f"203.0.113.{number}", "ada@example.com", WRONG) == 401
    # Every attempt came from 192.0.2.50, whatever the header said.
    assert login(direct, "203.0.113.99", "ada@example.com", WRONG) == 429


def test_one_sites_attackers_do_not_throttle_another_sites_users(
    serve_app: ServeApp, redis_or_none: str | None
) -> None:
    with serve_app(CountingHasher(), redis_or_none) as served:
        ip = fresh_ip()
        with served.client(ip) as here, served.client(ip, host=OTHER_HOST) as there:
            email = fresh_email()
            assert there.post(SIGNUP, json={"email": email, "password": PASSWORD}).is_success
            there.cookies.clear()
            wrong = [
                here.post(LOGIN, json={"email": fresh_email(), "password": WRONG}).status_code
                for _ in range(21)
            ]
            assert wrong == [401] * 20 + [429]
            # The same address, on the other site: its user logs in.
            back = there.post(LOGIN, json={"email": email, "password": PASSWORD})
            assert back.status_code == 200, back.text


def test_sign_ups_with_a_taken_address_are_counted_and_cost_no_hash(
    serve_app: ServeApp, redis_or_none: str | None
) -> None:
    hasher = CountingHasher()
    with serve_app(hasher, redis_or_none) as served:
        email = fresh_email()
        with served.client(fresh_ip()) as client:
            assert client.post(SIGNUP, json={"email": email, "password": PASSWORD}).is_success
            hashed = hasher.hashed
            client.cookies.clear()
            again = [
                client.post(SIGNUP, json={"email": email, "password": PASSWORD}).status_code
                for _ in range(15)
            ]
        assert again == [409] * 9 + [429] * 6
        assert hasher.hashed == hashed  # a taken address is refused before hashing
        # Refusals that cost nothing (a weak password) are not counted.
        with served.client(fresh_ip()) as client:
            weak = [
                client.post(SIGNUP, json={"email": fresh_email(), "password": "password1"})
                for _ in range(12)
            ]
            assert {r.status_code for r in weak} == {422}
            created = client.post(SIGNUP, json={"email": fresh_email(), "password": PASSWORD})
            assert created.status_code == 201
