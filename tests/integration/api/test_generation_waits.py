"""Long polls and event streams on a real server: woken by the job's end, bounded, owned.

The image model is the fake Gemini on loopback, answering only when the test opens a gate, so
the test knows when the job ends; the app runs in uvicorn on loopback, so waits hold real
connections and a client can really go away.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from tests.factories import PASSWORD, photo_bytes, verify_by_mail
from tests.serving import serve_app_in_thread

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.asgi import open_registry
from forkable.db import Database
from forkable.generations import jobs
from forkable.generations.runner import RunnerConfig
from forkable.generations.status_channel import announce_status_changes
from forkable.generations.waits import WaitLimits
from forkable.ledger.book import credit
from forkable.ledger.models import EntryKind
from forkable.providers.base import Usage
from forkable.services import Services
from forkable.settings import Settings
from forkable.testing import fake_gemini
from forkable.testing.fake_gemini import FakeGemini, GenerateCall
from forkable.testing.http import Reply

HOST = "coloringbook.localhost"


class Gate:
    """Answers of the fake model that wait until the test lets them through."""

    def __init__(self) -> None:
        self._open = threading.Semaphore(0)
        self.calls = threading.Semaphore(0)  # released as each call arrives

    def answer(self, call: GenerateCall) -> Reply:
        self.calls.release()
        self._open.acquire(timeout=30)
        return fake_gemini.ok()(call)

    def let_through(self, count: int = 1) -> None:
        self._open.release(count)

    def wait_for_call(self) -> None:
        assert self.calls.acquire(timeout=15), "the job never called the model"


@dataclass
class Site:
    url: str
    services: Services
    gate: Gate
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, headers={"host": HOST}, timeout=40)
        self.clients.append(client)
        return client

    def signed_up(self, email: str) -> httpx.Client:
        client = self.client()
        response = client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        body = response.json()
        verify_by_mail(client, self.services, body["user"]["id"])
        client.headers["x-csrf-token"] = body["csrf_token"]
        with self.services.database.transaction() as session:  # enough for every test here
            credit(
                session, site_id="coloringbook", user_id=body["user"]["id"], amount=20,
                kind=EntryKind.ADMIN_GRANT, ref=f"grant:{email}",
            )  # fmt: skip
        return client

    def submit(self, client: httpx.Client) -> str:
        files = {"image": ("photo.jpg", photo_bytes(), "image/jpeg")}
        response = client.post("/api/v1/generations", files=files)
        assert response.status_code == 202, response.text
        generation_id: str = response.json()["id"]
        return generation_id


@contextmanager
def _start_site(
    sites_dir: Path,
    settings_factory: Callable[..., Settings],
    database_url: str,
    *,
    limits: WaitLimits | None = None,
    runner_workers: int = 2,
) -> Iterator[Site]:
    registry = open_registry(sites_dir / "coloringbook")
    gate = Gate()
    with FakeGemini() as fake:
        fake.default = gate.answer
        settings = settings_factory(
            database_url=database_url, gemini_api_key="k", gemini_base_url=fake.url
        )
        services = build_services(
            registry,
            settings,
            passwords=fast_passwords(),
            runner_config=RunnerConfig(workers=runner_workers, lease_seconds=10, poll_seconds=0.05),
            wait_limits=limits,
        )
        app = create_app(registry, settings, services=services, migrate=True)
        site = Site("", services, gate)
        try:
            with serve_app_in_thread(app) as url:
                site.url = url
                yield site
                gate.let_through(100)  # no job left hanging on the gate
        finally:
            for client in site.clients:
                client.close()
            services.database.dispose()


@pytest.fixture
def site(
    sites_dir: Path, settings_factory: Callable[..., Settings], database_url: str
) -> Iterator[Site]:
    with _start_site(sites_dir, settings_factory, database_url) as started:
        yield started


def _finished_at(body: dict[str, object]) -> float:
    return datetime.fromisoformat(str(body["finished_at"])).timestamp()


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _in_thread(work: Callable[[], object]) -> Callable[[], object]:
    """Run ``work`` in a thread; the returned function joins it and gives its result."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> object:
        thread.join(40)
        assert not thread.is_alive(), "still waiting"
        if "error" in result:
            raise result["error"]  # type: ignore[misc]
        return result["value"]

    return join


def test_a_long_poll_answers_within_50_ms_of_the_jobs_end(site: Site) -> None:
    client = site.signed_up("ada@example.com")
    delays = []
    for _ in range(5):
        generation_id = site.submit(client)
        site.gate.wait_for_call()

        def poll(generation_id: str = generation_id) -> tuple[httpx.Response, float]:
            response = client.get(f"/api/v1/generations/{generation_id}", params={"wait": 20})
            return response, time.time()

        answered = _in_thread(poll)
        _until(lambda: site.services.waits.open_count == 1)
        time.sleep(0.1)  # the wait is in place and quiet: nothing but the job's end ends it
        site.gate.let_through()
        response, arrived = answered()  # type: ignore[misc]
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "succeeded" and body["result_url"]
        delays.append(arrived - _finished_at(body))
    _assert_within_50_ms(delays)
    _until(lambda: site.services.waits.open_count == 0)


def _assert_within_50_ms(delays: list[float]) -> None:
    """The job's end is the time its row records; the answer follows within 50 ms (the median
    of several: the two cores are shared, and a thread may wait its turn for the GIL)."""
    shown = [round(delay * 1000, 1) for delay in delays]
    assert statistics.median(delays) < 0.050, shown
    assert max(delays) < 0.250, shown


def test_a_long_poll_answers_after_its_time_when_nothing_changed(site: Site) -> None:
    client = site.signed_up("ada@example.com")
    generation_id = site.submit(client)
    site.gate.wait_for_call()
    started = time.monotonic()
    response = client.get(f"/api/v1/generations/{generation_id}", params={"wait": 0.4})
    waited = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    assert 0.4 <= waited < 2.0
    # A finished image answers at once.
    site.gate.let_through()
    client.get(f"/api/v1/generations/{generation_id}", params={"wait": 20})
    started = time.monotonic()
    again = client.get(f"/api/v1/generations/{generation_id}", params={"wait": 20})
    assert again.json()["status"] == "succeeded"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("wait", ["0", "-1", "30.5", "soon"])
def test_a_wait_out_of_range_is_refused(site: Site, wait: str) -> None:
    client = site.signed_up("ada@example.com")
    response = client.get("/api/v1/generations/0123", params={"wait": wait})
    assert response.status_code == 422
    assert response.json()["error"]["code"]


def _events(response: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name is not None:
            yield name, json.loads(line.removeprefix("data: "))
            name = None


def test_the_event_stream_sends_each_change_and_closes_after_the_final_one(site: Site) -> None:
    client = site.signed_up("ada@example.com")
    delays = []
    for _ in range(5):
        generation_id = site.submit(client)
        site.gate.wait_for_call()
        seen: list[tuple[str, dict[str, object], float]] = []

        def listen(
            generation_id: str = generation_id,
            seen: list[tuple[str, dict[str, object], float]] = seen,
        ) -> None:
            url = f"/api/v1/generations/{generation_id}/events"
            with client.stream("GET", url) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                assert response.headers["cache-control"] == "no-store"
                for name, data in _events(response):
                    seen.append((name, data, time.time()))

        done = _in_thread(listen)
        _until(lambda seen=seen: len(seen) == 1)  # type: ignore[misc]
        time.sleep(0.1)
        site.gate.let_through()
        done()  # the stream ended by itself after the final status
        assert [(name, data["status"]) for name, data, _ in seen] == [
            ("status", "running"),
            ("status", "succeeded"),
        ]
        final = seen[-1][1]
        assert final["id"] == generation_id and final["result_url"]
        delays.append(seen[-1][2] - _finished_at(final))
        _until(lambda: site.services.waits.open_count == 0)
    _assert_within_50_ms(delays)


def test_the_event_stream_tells_the_place_in_the_queue(
    sites_dir: Path, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    with _start_site(sites_dir, settings_factory, database_url, runner_workers=1) as site:
        client = site.signed_up("ada@example.com")
        first = site.submit(client)
        site.gate.wait_for_call()  # the one job thread is busy with it
        second, third = site.submit(client), site.submit(client)
        heard: list[tuple[str, object, object]] = []

        def listen() -> None:
            with client.stream("GET", f"/api/v1/generations/{third}/events") as response:
                for name, data in _events(response):
                    heard.append((name, data.get("status"), data["queue_position"]))

        done = _in_thread(listen)
        _until(lambda: heard == [("status", "queued", 2)])
        site.gate.let_through()  # the first ends, the second is claimed: the third is next
        _until(lambda: heard[-1:] == [("queue", None, 1)])
        site.gate.wait_for_call()
        site.gate.let_through()  # the second ends, the third is claimed
        site.gate.wait_for_call()
        _until(lambda: heard[-1:] == [("status", "running", None)])
        site.gate.let_through()
        done()
        assert heard == [
            ("status", "queued", 2),
            ("queue", None, 1),
            ("status", "running", None),
            ("status", "succeeded", None),
        ]
        for generation_id in (first, second):
            assert client.get(f"/api/v1/generations/{generation_id}").json()["status"] == (
                "succeeded"
            )


def test_a_reconnecting_stream_does_not_repeat_the_status_it_saw(site: Site) -> None:
    client = site.signed_up("ada@example.com")
    generation_id = site.submit(client)
    site.gate.let_through()
    client.get(f"/api/v1/generations/{generation_id}", params={"wait": 20})
    url = f"/api/v1/generations/{generation_id}/events"
    with client.stream("GET", url) as response:
        assert [data["status"] for _, data in _events(response)] == ["succeeded"]
    with client.stream("GET", url, headers={"last-event-id": "succeeded"}) as response:
        assert list(_events(response)) == []


def test_waits_are_for_the_owner_only(site: Site) -> None:
    owner = site.signed_up("ada@example.com")
    generation_id = site.submit(owner)
    other = site.signed_up("grace@example.com")
    anonymous = site.client()
    for client in (other, anonymous):
        waited = client.get(f"/api/v1/generations/{generation_id}", params={"wait": 5})
        assert waited.status_code == 404
        assert waited.json()["error"]["code"] == "not_found"
        streamed = client.get(f"/api/v1/generations/{generation_id}/events")
        assert streamed.status_code == 404
        assert streamed.json()["error"]["code"] == "not_found"
    assert site.services.waits.open_count == 0


def _hang_up_after(url: str, path: str, cookie: str) -> Callable[[], None]:
    """Send a GET on a raw socket and return a function that closes it mid-wait."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {cookie}\r\n\r\n"
    sock.sendall(request.encode())
    return sock.close


@pytest.mark.parametrize("kind", ["wait", "events"])
def test_a_client_that_goes_away_frees_its_wait(site: Site, kind: str) -> None:
    client = site.signed_up("ada@example.com")
    generation_id = site.submit(client)
    site.gate.wait_for_call()
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    path = f"/api/v1/generations/{generation_id}"
    path += "?wait=25" if kind == "wait" else "/events"
    hang_up = _hang_up_after(site.url, path, cookie)
    _until(lambda: site.services.waits.open_count == 1)
    started = time.monotonic()
    hang_up()
    _until(lambda: site.services.waits.open_count == 0, timeout=2.0)
    assert time.monotonic() - started < 1.0


def test_open_waits_are_capped_per_user_and_in_total(
    sites_dir: Path, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    with _start_site(
        sites_dir,
        settings_factory,
        database_url,
        limits=WaitLimits(per_user=2, total=3),
        runner_workers=3,
    ) as site:
        ada = site.signed_up("ada@example.com")
        grace = site.signed_up("grace@example.com")
        alan = site.signed_up("alan@example.com")
        ada_image, grace_image, alan_image = (site.submit(c) for c in (ada, grace, alan))
        for _ in range(3):
            site.gate.wait_for_call()  # all three running, none finishing
        holding = [
            _in_thread(lambda: ada.get(f"/api/v1/generations/{ada_image}?wait=20")),
            _in_thread(lambda: ada.get(f"/api/v1/generations/{ada_image}?wait=20")),
        ]
        _until(lambda: site.services.waits.open_count == 2)
        refused = ada.get(f"/api/v1/generations/{ada_image}/events")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_waits"
        assert refused.headers["retry-after"] == "1"
        holding.append(_in_thread(lambda: grace.get(f"/api/v1/generations/{grace_image}?wait=20")))
        _until(lambda: site.services.waits.open_count == 3)
        full = alan.get(f"/api/v1/generations/{alan_image}?wait=20")
        assert full.status_code == 429
        assert "server" in full.json()["error"]["message"]
        # A plain read is never refused.
        assert alan.get(f"/api/v1/generations/{alan_image}").status_code == 200
        site.gate.let_through(3)
        for join in holding:
            answer = join()
            assert isinstance(answer, httpx.Response) and answer.status_code == 200
        assert site.services.waits.open_count == 0


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_500_concurrent_waits_hold_with_flat_memory(
    sites_dir: Path, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    # On SQLite only: the waits do not touch the database while they wait, so the engine
    # changes nothing here (both engines' wake-ups are tested above and below).
    database_url = f"sqlite:///{tmp_path / 'waits.sqlite3'}"
    waits = 500
    with _start_site(
        sites_dir, settings_factory, database_url, limits=WaitLimits(per_user=waits)
    ) as site:
        client = site.signed_up("ada@example.com")
        cookies = dict(client.cookies.items())

        async def round_of_waits(generation_id: str) -> list[float]:
            limits = httpx.Limits(max_connections=waits + 10, max_keepalive_connections=0)
            async with httpx.AsyncClient(
                base_url=site.url, headers={"host": HOST}, cookies=cookies, limits=limits,
                timeout=40,
            ) as pool:  # fmt: skip

                async def one() -> float:
                    response = await pool.get(f"/api/v1/generations/{generation_id}?wait=25")
                    assert response.status_code == 200, response.text
                    assert response.json()["status"] == "succeeded"
                    return time.time()

                tasks = [asyncio.create_task(one()) for _ in range(waits)]
                while site.services.waits.open_count < waits:
                    await asyncio.sleep(0.02)
                site.gate.let_through()
                return await asyncio.gather(*tasks)

        rss = []
        spreads = []
        for _ in range(4):
            generation_id = site.submit(client)
            site.gate.wait_for_call()
            answered = asyncio.run(round_of_waits(generation_id))
            finished = _finished_at(client.get(f"/api/v1/generations/{generation_id}").json())
            spreads.append(statistics.median(answered) - finished)
            assert site.services.waits.open_count == 0
            rss.append(_rss_bytes())
        # The first round warms up the pools; the later rounds hold 500 waits again and
        # must not need more memory for them (a leak of a few KB per wait would show here).
        growth = rss[-1] - rss[1]
        assert growth < 8 * 1024 * 1024, [r // 1024 for r in rss]
        # All 500 hear of the end together and each reads the row again: the median answer
        # within seconds of it (they share two cores with this test's own 500 clients).
        assert max(spreads) < 5.0, spreads


def test_a_job_finished_by_another_process_wakes_the_wait(
    sites_dir: Path, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    # No job threads here: the job is claimed and ended through a database of its own, as a
    # `forkable worker` would, so no commit of this process tells the wait. On PostgreSQL the
    # commit's NOTIFY does, at once (the watcher is slowed down to 30 s to prove it); on
    # SQLite the watcher reads the statuses every 0.25 s.
    postgres = not database_url.startswith("sqlite")
    limits = WaitLimits(watch_seconds=30.0) if postgres else None
    with _start_site(
        sites_dir, settings_factory, database_url, runner_workers=0, limits=limits
    ) as site:
        client = site.signed_up("ada@example.com")
        generation_id = site.submit(client)
        elsewhere = Database(site.services.settings.resolved_database_url)
        announce_status_changes(elsewhere)  # as build_worker does
        try:
            answered = _in_thread(
                lambda: client.get(f"/api/v1/generations/{generation_id}?wait=20")
            )
            stream_seen: list[str] = []

            def listen() -> None:
                url = f"/api/v1/generations/{generation_id}/events"
                with client.stream("GET", url) as response:
                    stream_seen.extend(str(data["status"]) for _, data in _events(response))

            streamed = _in_thread(listen)
            _until(lambda: site.services.waits.open_count == 2)
            _until(lambda: stream_seen == ["queued"])
            if postgres:
                listener = site.services.waits.listener
                assert listener is not None
                _until(listener.listening.is_set)
            job = jobs.claim_next(elsewhere, owner="elsewhere", lease_seconds=30)
            assert job is not None and job.id == generation_id
            _until(lambda: stream_seen == ["queued", "running"], timeout=2.0)
            assert jobs.complete(
                elsewhere, generation_id, owner="elsewhere", provider="gemini",
                output_key=job.input_key, usage=Usage(), duration_ms=1,
            )  # fmt: skip
            ended = time.monotonic()
            response = answered()
            assert isinstance(response, httpx.Response)
            assert response.json()["status"] == "succeeded"
            waited = time.monotonic() - ended
            assert waited < (0.5 if postgres else 1.5), waited
            streamed()
            assert stream_seen == ["queued", "running", "succeeded"]
        finally:
            elsewhere.dispose()
