"""Following a generation with `?wait=` against polling every 10 ms, against a bare endpoint.

Usage: .venv/bin/python benchmarks/bench_waits.py [--rounds 3] [--sequential 12] [--batch 40]
Writes its section of docs/benchmarks.md.

Three ways to get a coloring page, on the same photos, in the same run:
- bare: `POST /filter` on a FastAPI app that only decodes, filters and encodes
  (benchmarks/bare_filter_app.py), one request per photo;
- poll: forkable's flow (upload, then `GET /api/v1/generations/{id}` every 10 ms until done);
- wait: the same flow, following with `GET /api/v1/generations/{id}?wait=30`.
One generation at a time, the overhead is the client's time from upload to knowing the result
is ready, minus the bare request's time on the same photo (taken just before and after, mean).
With 4 clients at once, each submitting and following in a loop, the throughput is
generations per second against the bare endpoint's images per second with 4 clients.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import ROOT, load_average, machine, run_process, today, write_section
from flow import PHOTOS, ApiUser, grant, jpeg, photo, served_site

LONG_SIDE = 1600
QUALITY = 90
WORKERS = 2  # forkable's job threads
CLIENTS = 4
POLL_SECONDS = 0.010
WAIT_SECONDS = 30
SITE_SETTINGS = {"generations_per_minute": "600"}


@dataclass
class Samples:
    bare: list[float] = field(default_factory=list)
    poll: list[float] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)
    poll_overhead: list[float] = field(default_factory=list)
    wait_overhead: list[float] = field(default_factory=list)
    requests_poll: list[int] = field(default_factory=list)
    throughput: list[dict[str, float]] = field(default_factory=list)


class Follower:
    """A signed-up API user that submits a photo and learns when it is done."""

    def __init__(self, url: str, email: str) -> None:
        self.user = ApiUser(url, email, pool=2)

    def make(self, data: bytes, mode: str) -> tuple[float, int]:
        """Seconds from the upload's start to knowing it succeeded; requests sent to follow."""
        started = time.perf_counter()
        generation_id, _ = self.user.submit(data)
        client = self.user.client
        path = f"/api/v1/generations/{generation_id}"
        requests = 0
        while True:
            if mode == "wait":
                body = client.get(path, params={"wait": WAIT_SECONDS}).json()
            else:
                body = client.get(path).json()
            requests += 1
            if body["status"] == "succeeded":
                return time.perf_counter() - started, requests
            if body["status"] == "failed":
                raise RuntimeError(f"generation failed: {body['error']}")
            if mode == "poll":
                time.sleep(POLL_SECONDS)


def bare_once(client: httpx.Client, data: bytes) -> float:
    started = time.perf_counter()
    response = client.post("/filter", content=data, headers={"content-type": "image/jpeg"})
    response.raise_for_status()
    return time.perf_counter() - started


def throughput(work: Callable[[int], None], count: int) -> float:
    """Items per second with CLIENTS threads taking ``count`` items in turn."""
    lock = threading.Lock()
    next_item = iter(range(count))

    def client_loop() -> None:
        while True:
            with lock:
                item = next(next_item, None)
            if item is None:
                return
            work(item)

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client_loop) for _ in range(CLIENTS)]:
            future.result()
    return count / (time.perf_counter() - started)


def sign_up_followers(site_url: str, data_dir: Path) -> list[Follower]:
    """One API user per client (sign-ups from one address are throttled, so once per run)."""
    followers = []
    for index in range(CLIENTS):
        email = f"bench-{index}@example.com"
        followers.append(Follower(site_url, email))
        grant(data_dir, email, 10_000)
    return followers


def run_round(
    bare_url: str, followers: list[Follower], photos: list[bytes], args: argparse.Namespace,
    number: int, samples: Samples,
) -> None:  # fmt: skip
    bare = httpx.Client(base_url=bare_url, timeout=120)
    try:
        for mode in ("poll", "wait") if number % 2 else ("wait", "poll"):
            for index in range(args.sequential):
                data = photos[index % len(photos)]
                before = bare_once(bare, data)
                seconds, requests = followers[0].make(data, mode)
                after = bare_once(bare, data)
                baseline = (before + after) / 2
                samples.bare.append(baseline)
                getattr(samples, mode).append(seconds)
                getattr(samples, f"{mode}_overhead").append(seconds - baseline)
                if mode == "poll":
                    samples.requests_poll.append(requests)
        rates = {
            "bare": throughput(lambda i: bare_once_thread(bare_url, photos[i % len(photos)]), args.batch),
            "poll": throughput(lambda i: followers[i % CLIENTS].make(photos[i % len(photos)], "poll"), args.batch),
            "wait": throughput(lambda i: followers[i % CLIENTS].make(photos[i % len(photos)], "wait"), args.batch),
        }  # fmt: skip
        samples.throughput.append(rates)
        print(f"round {number}: {rates}", file=sys.stderr)
    finally:
        bare.close()


_bare_clients = threading.local()


def bare_once_thread(url: str, data: bytes) -> None:
    client = getattr(_bare_clients, "client", None)
    if client is None:
        client = _bare_clients.client = httpx.Client(base_url=url, timeout=120)
    bare_once(client, data)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report(samples: Samples, args: argparse.Namespace, load: tuple[float, float]) -> str:
    median = statistics.median
    rows = []
    for mode, label in (("poll", "polling every 10 ms"), ("wait", "`?wait=30`")):
        rates = [r[mode] / r["bare"] for r in samples.throughput]
        rows.append(
            f"| {label} | {ms(median(getattr(samples, mode)))} | "
            f"{ms(median(getattr(samples, f'{mode}_overhead')))} | "
            f"{', '.join(f'{r[mode]:.2f}' for r in samples.throughput)} | "
            f"{', '.join(f'{rate:.2f}' for rate in rates)} | **{median(rates):.2f}** |"
        )
    bare_rates = ", ".join(f"{r['bare']:.2f}" for r in samples.throughput)
    return f"""## Following a generation: `?wait=` against polling (issue 17)

Run on {today()}: {machine()}; one-minute load average {load[0]:.1f} before and {load[1]:.1f}
after (2 shared cores: other jobs may run beside it).
Command: `.venv/bin/python benchmarks/bench_waits.py --rounds {args.rounds} --sequential {args.sequential} --batch {args.batch}`.

Photos: scikit-image {", ".join(PHOTOS)}, {LONG_SIDE} px on the long side, JPEG q{QUALITY}.
forkable: `forkable serve` on a copy of `examples/coloringbook` (`generations_per_minute`
raised to 600), SQLite, local filter, {WORKERS} job threads; API users with granted tokens. The
bare endpoint: `benchmarks/bare_filter_app.py` under the same uvicorn, the same filter and PNG
encoding, one request per photo. Each of {args.rounds} rounds runs on the same two servers: one
generation at a time ({args.sequential} per way, each paired with the bare request on the same
photo just before and after), then {args.batch} generations with {CLIENTS} clients at once for
each way, in alternating order.

| following | median time to result ms | median overhead ms (vs bare) | {CLIENTS} clients: generations/s per round | ratio to bare per round | median ratio |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

The bare endpoint: median {ms(median(samples.bare))} ms per photo one at a time;
{bare_rates} images/s with {CLIENTS} clients. Polling every 10 ms sent a median of
{median(samples.requests_poll):.0f} status requests per generation; a long poll sends one
(it answers when the job's commit wakes it).
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=12)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--no-record", action="store_true", help="print, do not write the docs")
    args = parser.parse_args()
    photos = [jpeg(photo(name, LONG_SIDE), QUALITY) for name in PHOTOS]
    samples = Samples()
    load_before = load_average()
    bare_command = [
        sys.executable, "-m", "uvicorn", "bare_filter_app:app", "--port", "{port}",
        "--log-level", "warning", "--app-dir", str(ROOT / "benchmarks"),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder, run_process(bare_command) as bare:
        with served_site(Path(folder), workers=WORKERS, settings=SITE_SETTINGS) as (server, data):
            followers = sign_up_followers(server.url, data)
            try:
                for number in range(1, args.rounds + 1):
                    run_round(bare.url, followers, photos, args, number, samples)
            finally:
                for follower in followers:
                    follower.user.close()
    text = report(samples, args, (load_before, load_average()))
    print(text)
    if not args.no_record:
        write_section("waits", text)


if __name__ == "__main__":
    main()
