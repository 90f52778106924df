"""The shared queue on PostgreSQL (`serve --no-jobs` + `forkable worker`) against the embedded
server on the same PostgreSQL: the latency the queue adds, and throughput with 1 or 2 workers.

Usage: .venv/bin/python benchmarks/bench_scale_out.py [--reps 4] [--rounds 4] [--batch 40]
Needs PostgreSQL (trust auth) at --pg-host; creates and drops its own database.
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench_generations import (
    SITE_SETTINGS,
    Pair,
    Site,
    Upload,
    direct_batch,
    direct_filter,
    flow_batch,
    make_uploads,
    measure_poll_cpu,
    ms,
    one_pair,
)
from common import load_average, machine, today, write_section
from flow import ApiUser, cpu_seconds, grant, server_env, site_copy
from tests.serving import Server, serve

CONCURRENCY = 2  # per worker process, and FORKABLE_WORKERS of the embedded server
ADDED_TARGET_MS = 15.0
# What `tune_allocator` sets in `forkable serve`, as the variables docs/operations.md names.
ALLOCATOR_ENV = {
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(64 * 1024 * 1024),
}
EMBEDDED = "embedded `serve`"
QUEUE = "queue, worker as shipped"
QUEUE_TUNED = "queue, worker with the allocator variables"
LATENCY_SETUPS = (EMBEDDED, QUEUE, QUEUE_TUNED)
ONE, TWO = "`serve --no-jobs` + 1 worker", "`serve --no-jobs` + 2 workers"
BATCH_SETUPS = (EMBEDDED, ONE, TWO)  # by the number of worker processes


# --- PostgreSQL and processes ---------------------------------------------------------------


@contextmanager
def fresh_database(host: str, port: int, label: str) -> Iterator[str]:
    """A new, empty database, migrated with `forkable db upgrade`; dropped afterwards."""
    name = f"bench_scale_out_{os.getpid()}_{label}"
    where = ["-h", host, "-p", str(port), "-U", "postgres"]
    subprocess.run(["createdb", *where, name], check=True)
    url = f"postgresql://postgres@{host}:{port}/{name}"
    try:
        subprocess.run(
            [sys.executable, "-m", "forkable", "db", "upgrade"],
            env={**os.environ, **server_env(1, {"FORKABLE_DATABASE_URL": url})},
            check=True,
            capture_output=True,
        )
        yield url
    finally:
        subprocess.run(["dropdb", *where, "--force", name], check=False)


@dataclass
class Setup:
    """What the processes of one set-up share: the site, a database, a media folder."""

    label: str
    site: Path
    database_url: str
    folder: Path
    count: int = 0

    @property
    def media(self) -> Path:
        return self.folder / f"media-{self.label}"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        shared = {
            "FORKABLE_DATABASE_URL": self.database_url,
            "FORKABLE_MEDIA_URL": f"file://{self.media}",
        }
        return server_env(CONCURRENCY, {**shared, **(extra or {})})

    def data_dir(self, kind: str) -> Path:
        """A data dir of its own for every process."""
        self.count += 1
        return self.folder / f"{self.label}-{kind}-{self.count}" / "var"


@contextmanager
def web(setup: Setup, *, no_jobs: bool) -> Iterator[Server]:
    args = ("--no-jobs",) if no_jobs else ()
    data_dir = setup.data_dir("web")
    with serve(setup.site, data_dir, env=setup.env(), args=args, timeout=60) as server:
        yield server


@contextmanager
def worker(setup: Setup, extra: Mapping[str, str] | None = None) -> Iterator[int]:
    """`forkable worker SITE --concurrency 2`; yields its pid once it said it works."""
    data_dir = setup.data_dir("worker")
    data_dir.mkdir(parents=True)
    log = data_dir.parent / "worker.log"
    command = [sys.executable, "-m", "forkable", "worker", str(setup.site)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--concurrency", str(CONCURRENCY)],
            env={**os.environ, **setup.env(extra), "FORKABLE_DATA_DIR": str(data_dir)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "generations of" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Processes(Site):
    """A served site whose generations may run in other processes: CPU summed over them all."""

    pids: list[int] = field(default_factory=list)

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in [self.pid, *self.pids])


def signed_up(setup: Setup, server: Server, tokens: int) -> Processes:
    setup.count += 1
    user = ApiUser(server.url, f"bench-{setup.label}-{setup.count}@example.com")
    grant(setup.folder, user.email, tokens, setup.env())
    return Processes(user, server.process.pid)


def warm(site: Processes, uploads: list[Upload]) -> None:
    """Imports, caches and first file writes, in every process that runs jobs."""
    flow_batch(site, uploads)


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Results:
    pairs: dict[str, list[Pair]] = field(default_factory=lambda: {s: [] for s in LATENCY_SETUPS})
    added: dict[str, list[float]] = field(default_factory=lambda: {QUEUE: [], QUEUE_TUNED: []})
    rates: dict[str, list[float]] = field(
        default_factory=lambda: {**{s: [] for s in BATCH_SETUPS}, "direct": []}
    )
    cpu: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in BATCH_SETUPS})
    load: tuple[float, float] = (0.0, 0.0)  # one-minute load average before and after


@contextmanager
def latency_site(setup: Setup, name: str, uploads: list[Upload], reps: int) -> Iterator[Processes]:
    """The set-up ``name`` on fresh processes and its own database, warmed up."""
    with ExitStack() as stack:
        server = stack.enter_context(web(setup, no_jobs=name != EMBEDDED))
        site = signed_up(setup, server, 20 + len(uploads) * reps)
        if name != EMBEDDED:
            extra = ALLOCATOR_ENV if name == QUEUE_TUNED else {}
            site.pids.append(stack.enter_context(worker(setup, extra)))
        warm(site, uploads)
        last = site.user.submit(uploads[0].data)
        done = site.user.wait(*last, poll=0.05)
        site.poll_cpu = measure_poll_cpu(site, done.id, count=50)
        try:
            yield site
        finally:
            site.user.close()


def latency_round(
    setups: dict[str, Setup], uploads: list[Upload], reps: int, number: int
) -> dict[str, list[Pair]]:
    """The three set-ups up side by side, each on its own database (the embedded server's
    threads would claim the queue's rows otherwise); every photo goes to each in turn, the
    order turning, so that the machine's drift falls on all three alike."""
    pairs: dict[str, list[Pair]] = {name: [] for name in LATENCY_SETUPS}
    with ExitStack() as stack:
        sites = {
            name: stack.enter_context(latency_site(setups[name], name, uploads, reps))
            for name in LATENCY_SETUPS
        }
        turn = 0
        for _ in range(reps):
            for upload in uploads:
                order = LATENCY_SETUPS[turn % 3 :] + LATENCY_SETUPS[: turn % 3]
                turn += 1
                for name in order:
                    pairs[name].append(one_pair(sites[name], upload, number))
    return pairs


def batch_rate(
    setup: Setup, uploads: list[Upload], batch: list[Upload], workers: int
) -> tuple[float, float]:
    """Generations/s and CPU ms/generation of a batch: ``workers`` worker processes behind a
    `serve --no-jobs`, or with 0 the embedded server alone."""
    with ExitStack() as stack:
        server = stack.enter_context(web(setup, no_jobs=workers > 0))
        site = signed_up(setup, server, 20 + 2 * len(batch))
        for _ in range(workers):
            site.pids.append(stack.enter_context(worker(setup)))
        warm(site, uploads * 2)  # eight at once: every worker's threads get some
        site.poll_cpu = 0.0  # the batch's polls are few (800 ms apart) and not taken out here
        rate, cpu = flow_batch(site, batch)
        site.user.close()
    return rate, cpu


def run(setups: dict[str, Setup], uploads: list[Upload], args: argparse.Namespace) -> Results:
    results = Results()
    batch = [uploads[i % len(uploads)] for i in range(args.batch)]
    for number in range(args.rounds):
        pairs = latency_round(setups, uploads, args.reps, number)
        medians = {name: statistics.median(p.overhead for p in pairs[name]) for name in pairs}
        for name in LATENCY_SETUPS:
            results.pairs[name] += pairs[name]
            print(f"round {number + 1} {name}: overhead {ms(medians[name])} ms", flush=True)
        for name in (QUEUE, QUEUE_TUNED):
            results.added[name].append(medians[name] - medians[EMBEDDED])
        # Throughput: the embedded server, 1 and 2 worker processes, the order turning; the
        # filter alone in a pool of 2 threads of this process after them, as the ceiling.
        for workers in (0, 1, 2)[number % 3 :] + (0, 1, 2)[: number % 3]:
            # One set-up at a time here: the embedded one's database, or the queue's.
            rate, cpu = batch_rate(setups[QUEUE if workers else EMBEDDED], uploads, batch, workers)
            name = BATCH_SETUPS[workers]
            results.rates[name].append(rate)
            results.cpu[name].append(cpu)
            print(f"round {number + 1} {name}: {rate:.2f} generations/s", flush=True)
        results.rates["direct"].append(direct_batch(batch)[0])
    return results


# --- report ---------------------------------------------------------------------------------


def verdict(added_ms: float) -> str:
    return "met" if added_ms < ADDED_TARGET_MS else "**not met**"


def report(r: Results, args: argparse.Namespace) -> str:
    rows = []
    for name, pairs in r.pairs.items():
        rows.append(
            f"| {name} | {len(pairs)} | {ms(statistics.median(p.filter.wall for p in pairs))} | "
            f"{ms(statistics.median(p.flow.latency for p in pairs))} | "
            f"{ms(statistics.median(p.overhead for p in pairs))} | "
            f"{ms(statistics.fmean(p.cpu_overhead for p in pairs))} |"
        )
    added = statistics.median(r.added[QUEUE]) * 1000
    added_tuned = statistics.median(r.added[QUEUE_TUNED]) * 1000
    rounds = "\n".join(
        f"| {i + 1} | {r.rates['direct'][i]:.2f} | "
        + " | ".join(f"{r.rates[name][i]:.2f}" for name in BATCH_SETUPS)
        + f" | {r.rates[TWO][i] / r.rates[ONE][i]:.2f} | "
        + " | ".join(ms(r.cpu[name][i]) for name in BATCH_SETUPS)
        + " |"
        for i in range(args.rounds)
    )
    embedded = statistics.median(r.rates[EMBEDDED])
    one, two = statistics.median(r.rates[ONE]), statistics.median(r.rates[TWO])
    scaling = statistics.median(b / a for a, b in zip(r.rates[ONE], r.rates[TWO], strict=True))
    queue_share = statistics.median(
        a / b for a, b in zip(r.rates[ONE], r.rates[EMBEDDED], strict=True)
    )
    direct = statistics.median(r.rates["direct"])
    ratios = [b / a for a, b in zip(r.rates[ONE], r.rates[TWO], strict=True)]
    low, high = min(ratios), max(ratios)
    return f"""## Scale-out: the shared queue on PostgreSQL

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_scale_out.py --reps {args.reps} --rounds {args.rounds} --batch {args.batch}`.

PostgreSQL 15 on the same machine, a fresh database per set-up (created, migrated with
`forkable db upgrade`, dropped at the end); a copy of `examples/coloringbook`
(`generations_per_minute` raised to 600) with its local `coloring_book` filter (no Gemini key),
the four 1600-px photos of bench_generations.py. Every process has a data dir of its own; the
processes of a set-up share one media folder (`FORKABLE_MEDIA_URL=file://...`). Embedded:
`forkable serve` with `FORKABLE_WORKERS={CONCURRENCY}`. Queue: `forkable serve --no-jobs` and
`forkable worker --concurrency {CONCURRENCY}` (Procrastinate, woken by LISTEN/NOTIFY). One-minute
load average {r.load[0]:.1f} before the run and {r.load[1]:.1f} after it (2 cores: other jobs,
test suites among them, were running).

`forkable worker` does not call `tune_allocator` (only `forkable serve` and the app's start do),
so it runs with glibc's default allocator; a third set-up gives the worker the same settings
through the variables `forkable.allocator` names ({", ".join(f"`{k}={v}`" for k, v in ALLOCATOR_ENV.items())}),
which glibc reads at start-up.

### Latency, one generation at a time

As in bench_generations.py: from the start of the upload to the row's `finished_at`, each
generation paired with the filter alone in the benchmark process just before and after it;
overhead = latency minus that filter time. In each of the {args.rounds} rounds the three set-ups
run side by side on fresh processes, each on its own database (an embedded server's threads
would claim the queue's rows), each warmed with four generations at once and one more; then
{args.reps} times each photo goes to every set-up in turn, one generation at a time, the order
turning, so that the machine's drift falls on the three alike. CPU: user+system of every process
of the set-up (the web server and the worker) over the generation, polls taken out, minus the
filter's CPU in the benchmark process.

| set-up | generations | filter alone ms | latency ms | overhead ms | mean CPU overhead ms |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Per round, median overhead of the queue minus that of the embedded server: worker as shipped
{", ".join(f"{x * 1000:+.1f}" for x in r.added[QUEUE])} ms; worker with the allocator variables
{", ".join(f"{x * 1000:+.1f}" for x in r.added[QUEUE_TUNED])} ms.

**The queue adds {added:.1f} ms per generation as shipped** (median of the per-round
differences; target under {ADDED_TARGET_MS:.0f} ms: {verdict(added)}), **and {added_tuned:.1f} ms with the worker's
allocator set as `serve` sets its own** ({verdict(added_tuned)}): the difference between the two is
the worker's missing `tune_allocator`, the rest is the queue's delivery (the defer in the submit
transaction, NOTIFY, the worker's fetch and its claim by id).

### Throughput under saturation

A batch of {args.batch} photos uploaded at once (8 upload threads), counted from the first upload
to the last `finished_at`, to the embedded server or to one `serve --no-jobs` with 1 worker
process or 2 (each `--concurrency {CONCURRENCY}`, as shipped, so with glibc's default allocator),
each on fresh processes warmed with eight generations, the order turning from round to round.
Direct: the filter alone in a pool of {CONCURRENCY} threads of the benchmark process on the same
{args.batch} photos, right after, for what the machine could do at that moment. CPU per generation:
every process of the set-up (not PostgreSQL's), the client's polls (every 800 ms) included.

| round | direct images/s | embedded generations/s | 1 worker generations/s | 2 workers generations/s | 2 workers / 1 | embedded CPU ms/generation | 1 worker CPU ms/generation | 2 workers CPU ms/generation |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rounds}

**1 worker: {one:.2f} generations/s, 2 workers: {two:.2f} generations/s** (medians; median
ratio 2 workers / 1: {scaling:.2f}); the embedded server on the same PostgreSQL: {embedded:.2f}
(1 worker / embedded, median per round: {queue_share:.2f}); the filter alone: {direct:.2f} images/s.

What this can and cannot show: one worker with `--concurrency {CONCURRENCY}` already runs two
filters at once, as many as the 2 cores can hold, and the web process, PostgreSQL and the
benchmark client share those cores. A second worker process brings no CPU of its own here,
only more jobs in flight competing for the same cores, so the ratio 2 / 1 measures what a
second process costs or saves on the same machine ({scaling - 1:+.0%} at the median, from
{low:.2f} to {high:.2f} per round: each batch lasts seconds and the load of other jobs changes
from one batch to the next, so this run's rates are a loose guide, and the CPU per generation,
which that load changes less, is the steadier measure), and that two processes share one queue
(every generation of every batch succeeded), not how the queue scales. Two worker processes on two machines, or on a
machine with 4 cores, would be needed to show the rate growing with workers.
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    args = parser.parse_args()
    started = time.monotonic()
    load_before = load_average()
    uploads = make_uploads()
    direct_filter(uploads[0].image)  # warm up OpenCV and numpy
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        site = site_copy(folder, SITE_SETTINGS)
        setups = {}
        for number, name in enumerate(LATENCY_SETUPS):
            url = stack.enter_context(fresh_database(args.pg_host, args.pg_port, str(number)))
            setups[name] = Setup(str(number), site, url, folder)
        results = run(setups, uploads, args)
    results.load = (load_before, load_average())
    body = report(results, args)
    write_section("scale_out", body)
    print(body)
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
