"""The soak's visitors: people who sign up, buy packs, make, download and delete images, and the
Stripe side of their payments (duplicate and out-of-order webhooks). Every request is recorded
under its route template, with its status or the transport error that stood in for one."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from forkable.testing.fake_stripe import FakeStripe

PASSWORD = "soak test passphrase 42"  # noqa: S105 - a test account's password
POLL_SECONDS = 0.8  # what the app page polls at (POLL_MS in forkable/web/static/app.js)
ABANDONED = "abandoned"
TERMINAL = ("succeeded", "failed")


@dataclass(frozen=True)
class Call:
    """One request as the client saw it: its route, status (None: no answer) and timing."""

    route: str
    status: int | None
    error: str | None  # the transport error's class when there was no answer
    started: float  # monotonic
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class Recorder:
    """Every call, and counts of what the visitors and the Stripe side did."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)


@dataclass
class Ledger:
    """What the clients know for certain, to compare with the database afterwards."""

    users: set[str] = field(default_factory=set)  # e-mails that got 201
    verified: set[str] = field(default_factory=set)
    generations: dict[str, str] = field(default_factory=dict)  # id -> last status seen
    deleted: set[str] = field(default_factory=set)  # generation ids whose delete got 204
    purchases: dict[str, int] = field(default_factory=dict)  # purchase id -> pack tokens
    paid: set[str] = field(default_factory=set)  # purchases Stripe took the money for
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, generation_id: str, status: str) -> None:
        with self.lock:
            self.generations[generation_id] = status


class Client:
    """An httpx client that records each call under a route template."""

    def __init__(self, url: str, recorder: Recorder, forwarded_for: str) -> None:
        self.recorder = recorder
        # Each visitor comes from its own address, as behind a proxy the server trusts
        # (127.0.0.1 is trusted by default): per-address throttles count people, not the soak.
        self.http = httpx.Client(
            base_url=url, timeout=30, headers={"x-forwarded-for": forwarded_for}
        )
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, route: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.monotonic()
        headers = dict(kwargs.pop("headers", {}))
        if method != "GET" and self.csrf:
            headers["x-csrf-token"] = self.csrf
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            self.recorder.add(Call(route, None, type(exc).__name__, started, time.monotonic()))
            return None
        self.recorder.add(Call(route, response.status_code, None, started, time.monotonic()))
        return response


class Shop:
    """The Stripe side: pays sessions and delivers their events as Stripe would, retrying
    until the server answers, sometimes twice and sometimes in the wrong order."""

    def __init__(
        self, fake: FakeStripe, url: str, recorder: Recorder, give_up: threading.Event
    ) -> None:
        self.fake = fake
        self.webhook = f"{url}/api/v1/webhooks/stripe"
        self.recorder = recorder
        self.give_up = give_up  # set when the run is over and the server is going away
        self._payments = 0
        self._lock = threading.Lock()

    def deliver(self, event: dict[str, Any]) -> str | None:
        """POST the event, signed, until the server answers below 500; its outcome."""
        delay = 0.25
        while True:
            started = time.monotonic()
            try:
                response = self.fake.deliver(event, self.webhook)
            except httpx.TransportError as exc:
                error = type(exc).__name__
                self.recorder.add(
                    Call("POST /api/v1/webhooks/stripe", None, error, started, time.monotonic())
                )
            else:
                status = response.status_code
                self.recorder.add(
                    Call("POST /api/v1/webhooks/stripe", status, None, started, time.monotonic())
                )
                if status < 500:
                    self.recorder.count(f"webhook {status}")
                    outcome = response.json().get("outcome") if status == 200 else None
                    return str(outcome) if outcome else None
            self.recorder.count("webhook retried")
            if self.give_up.wait(delay):
                self.recorder.count("webhook never delivered")
                return None
            delay = min(delay * 2, 2.0)

    def pay(self, session_id: str, rng: random.Random) -> None:
        """The buyer pays; Stripe sends the events in one of three ways (the first two
        payments of a run take the awkward ways, so that even a short run has both)."""
        with self._lock:
            self._payments += 1
            first = self._payments
        way = {1: 0.0, 2: 0.5}.get(first, rng.random())
        if way < 0.3:
            # A delayed payment: "completed (unpaid)" then "succeeded", delivered in reverse.
            completed = self.fake.complete_session(session_id, payment_status="unpaid")
            succeeded = self.fake.async_payment_succeeded(session_id)
            self.recorder.count("out-of-order pairs sent")
            self.deliver(succeeded)
            self.deliver(completed)
        elif way < 0.55:
            event = self.fake.complete_session(session_id)
            self.recorder.count("duplicate deliveries sent")
            if rng.random() < 0.5:
                first = self.deliver(event)
                second = self.deliver(event)
            else:  # both at once, as Stripe's retry can overlap a slow first try
                outcomes: list[str | None] = []
                other = threading.Thread(target=lambda: outcomes.append(self.deliver(event)))
                other.start()
                first = self.deliver(event)
                other.join()
                second = outcomes[0] if outcomes else None
            if "duplicate" in (first, second):
                self.recorder.count("duplicates answered duplicate")
        else:
            self.deliver(self.fake.complete_session(session_id))

    def expire(self, session_id: str) -> None:
        self.deliver(self.fake.expire_session(session_id))


class Visitor:
    """One browser after another on one thread: sign up, then a few minutes of use, then leave."""

    def __init__(
        self,
        number: int,
        *,
        url: str,
        photos: list[bytes],
        packs: dict[str, int],
        shop: Shop,
        recorder: Recorder,
        ledger: Ledger,
        stop: threading.Event,
        run_id: str,
        seed: int,
    ) -> None:
        self.number = number
        self.url = url
        self.photos = photos
        self.packs = packs
        self.shop = shop
        self.recorder = recorder
        self.ledger = ledger
        self.stop = stop
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.people = 0

    # -- the life of one person ------------------------------------------------------------

    def run(self, arrive_within: float = 0.0) -> None:
        # Visitors arrive one by one, not all in the same instant.
        self.stop.wait(self.rng.uniform(0, arrive_within))
        while not self.stop.is_set():
            self.people += 1
            address = f"10.{self.number}.{self.people // 250}.{self.people % 250 + 1}"
            client = Client(self.url, self.recorder, address)
            try:
                if self._sign_up(client):
                    self._use(client, actions=self.rng.randint(10, 30))
            finally:
                client.close()

    def _pause(self, low: float = 0.2, high: float = 1.0) -> None:
        self.stop.wait(self.rng.uniform(low, high))

    def _after_error(self) -> None:
        # The server is away (the restart): try again shortly, each person after their own
        # while, as people do (not all in the same instant, which only a script would).
        self.stop.wait(self.rng.uniform(0.5, 3.0))

    def _sign_up(self, client: Client) -> bool:
        email = f"soak-{self.run_id}-{self.number}-{self.people}@example.com"
        response = client.call(
            "POST",
            "POST /api/v1/auth/signup",
            "/api/v1/auth/signup",
            json={"email": email, "password": PASSWORD},
        )
        if response is None or response.status_code != 201:
            self._after_error()
            return False
        with self.ledger.lock:
            self.ledger.users.add(email)
        client.csrf = response.json()["csrf_token"]
        token = client.http.cookies.get("forkable_dev_verify_link")
        if token is None:
            return True  # no bonus waiting: the site grants it at sign-up
        verified = client.call(
            "POST",
            "POST /api/v1/auth/verify-email",
            "/api/v1/auth/verify-email",
            json={"token": token},
        )
        if verified is not None and verified.status_code == 200:
            with self.ledger.lock:
                self.ledger.verified.add(email)
        if self.rng.random() < 0.25:  # a returning visitor: log out, log in again
            client.call("POST", "POST /api/v1/auth/logout", "/api/v1/auth/logout")
            client.csrf = ""
            login = client.call(
                "POST",
                "POST /api/v1/auth/login",
                "/api/v1/auth/login",
                json={"email": email, "password": PASSWORD},
            )
            if login is None or login.status_code != 200:
                return False
            client.csrf = login.json()["csrf_token"]
        return True

    def _use(self, client: Client, *, actions: int) -> None:
        made: list[str] = []
        for _ in range(actions):
            if self.stop.is_set():
                return
            roll = self.rng.random()
            action: Callable[[], None]
            # Mostly images; a pack now and then before the tokens run out (a 402 buys one too).
            if roll < 0.62:
                action = lambda: self._make_image(client, made)  # noqa: E731
            elif roll < 0.68:
                action = lambda: self._buy(client)  # noqa: E731
            elif roll < 0.71:
                action = lambda: self._abandon_checkout(client)  # noqa: E731
            elif roll < 0.80 and made:
                action = lambda: self._delete(client, made.pop(0))  # noqa: E731
            else:
                action = lambda: self._browse(client)  # noqa: E731
            action()
            self._pause()

    # -- actions ---------------------------------------------------------------------------

    def _browse(self, client: Client) -> None:
        route, path = self.rng.choice(
            [
                ("GET /api/v1/me", "/api/v1/me"),
                ("GET /api/v1/generations", "/api/v1/generations"),
                ("GET /api/v1/ledger", "/api/v1/ledger"),
                ("GET /api/v1/packs", "/api/v1/packs"),
                ("GET /api/v1/purchases", "/api/v1/purchases"),
                ("GET /", "/"),
            ]
        )
        if client.call("GET", route, path) is None:
            self._after_error()

    def _make_image(self, client: Client, made: list[str]) -> None:
        photo = self.rng.choice(self.photos)
        response = client.call(
            "POST",
            "POST /api/v1/generations",
            "/api/v1/generations",
            files={"image": ("photo.jpg", photo, "image/jpeg")},
        )
        if response is None:
            self._after_error()
            return
        if response.status_code == 402:  # out of tokens: buy a pack, as the app page offers
            self._buy(client)
            return
        if response.status_code == 429:
            wait = float(response.headers.get("retry-after", "5"))
            self.stop.wait(min(wait, 10.0))
            return
        if response.status_code != 202:
            return
        generation_id = str(response.json()["id"])
        self.ledger.saw(generation_id, "queued")
        status = self._wait(client, generation_id)
        if status == "succeeded":
            self.recorder.count("generations seen succeeded")
            path = f"/api/v1/generations/{generation_id}/result"
            client.call("GET", "GET /api/v1/generations/{id}/result", path)
            if self.rng.random() < 0.3:
                path = f"/api/v1/generations/{generation_id}/input"
                client.call("GET", "GET /api/v1/generations/{id}/input", path)
        elif status == "failed":
            self.recorder.count("generations seen failed")
        if status in TERMINAL:
            if self.rng.random() < 0.4:
                self._delete(client, generation_id)
            else:
                made.append(generation_id)

    def _wait(self, client: Client, generation_id: str) -> str | None:
        """Poll as the app page does until the image is made or failed (None: run over)."""
        path = f"/api/v1/generations/{generation_id}"
        while not self.stop.wait(POLL_SECONDS):
            response = client.call("GET", "GET /api/v1/generations/{id}", path)
            if response is None or response.status_code != 200:
                continue
            status = str(response.json()["status"])
            self.ledger.saw(generation_id, status)
            if status in TERMINAL:
                return status
        return None

    def _delete(self, client: Client, generation_id: str) -> None:
        path = f"/api/v1/generations/{generation_id}"
        response = client.call("DELETE", "DELETE /api/v1/generations/{id}", path)
        if response is not None and response.status_code == 204:
            with self.ledger.lock:
                self.ledger.deleted.add(generation_id)

    def _checkout(self, client: Client) -> tuple[str, str] | None:
        pack = self.rng.choice(sorted(self.packs))
        response = client.call(
            "POST", "POST /api/v1/checkout", "/api/v1/checkout", json={"pack_id": pack}
        )
        if response is None or response.status_code != 201:
            if response is None:
                self._after_error()
            return None
        body = response.json()
        purchase_id = str(body["purchase_id"])
        with self.ledger.lock:
            self.ledger.purchases[purchase_id] = self.packs[pack]
        return purchase_id, str(body["checkout_url"]).rsplit("/pay/", 1)[1]

    def _buy(self, client: Client) -> None:
        started = self._checkout(client)
        if started is None:
            return
        purchase_id, session_id = started
        self._pause(0.5, 1.5)  # the buyer types their card number
        self.shop.pay(session_id, self.rng)
        with self.ledger.lock:
            self.ledger.paid.add(purchase_id)
        # The success page polls the purchase until it shows paid.
        path = f"/api/v1/purchases/{purchase_id}"
        for _ in range(10):
            response = client.call("GET", "GET /api/v1/purchases/{id}", path)
            if response is not None and response.status_code == 200:
                if response.json()["status"] == "paid":
                    self.recorder.count("purchases seen paid")
                    return
            if self.stop.wait(0.5):
                return

    def _abandon_checkout(self, client: Client) -> None:
        started = self._checkout(client)
        if started is not None:
            self.recorder.count("checkouts abandoned")
            self.shop.expire(started[1])
