"""The whole system on this machine for a set time, under faults: a soak.

A real `forkable serve` (the embedded default: SQLite, local media) with visitors signing up,
buying packs through the fake Stripe (duplicate and out-of-order webhooks, signed as Stripe
signs), making, polling, downloading and deleting images, while the fake Gemini fails 20% of
its calls and leaves 5% unanswered past the client's timeout. Mid-run a backup is taken
(`forkable backup`, traffic flowing) and later the server is sent SIGKILL and restarted on the
same data dir. Afterwards: requests answered without 5xx, latency per route, generations
succeeded and refunded, the tokens summed from the database (exactly conserved), `forkable
ledger verify`, the server's resident memory over time, and whether the backup restores into a
fresh data dir and verifies there.

Usage: .venv/bin/python benchmarks/soak.py [--seconds 600] [--visitors 8] [--json PATH] [--record]
`--record` writes its section of docs/benchmarks.md: the default 10-minute run one, a longer
run (for memory, which is judged only past a 25-minute warm-up) another. Exit 1 when a target
is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from common import load_average, machine, percentile, today, write_section
from flow import jpeg, photo, server_env, site_copy
from soak_checks import (
    FIT_AT_LEAST,
    GROWTH_TARGET,
    Command,
    Growth,
    Sample,
    database_file,
    finished_generations,
    fit_growth,
    forkable,
    memory_verdict,
    read_outcomes,
    read_tokens,
    rss_kb,
    sqlite_kb,
    trimmed_rss,
    unfinished_generations,
)
from soak_traffic import Call, Ledger, Recorder, Shop, Visitor
from tests.serving import free_port, wait_until_healthy

from forkable.testing.fake_gemini import FakeGemini, Flaky
from forkable.testing.fake_stripe import FakeStripe

FAILURE_RATE = 0.20
TIMEOUT_RATE = 0.05
WORKERS = 8  # generation threads: a try left unanswered holds one for the client's 60 s
LEASE_SECONDS = 10  # how soon jobs of the killed process go back to the queue
# Only the site's daily spend cap is raised, so that it does not end the soak early.
SITE_SETTINGS = {"daily_spend_cap_usd": "100000"}
PHOTO_SIDE = 800
BACKUP_AT = 0.25  # fraction of the run (the SIGKILL's is --kill-at)
ANSWERED_TARGET = 0.999
# A fresh process's memory in use climbs for its first 15-25 minutes and then holds (hour- and
# two-hour runs of 2026-12-07; docs/benchmarks.md "Soak"): bounded caches fill up (the access
# log's 1,024 recent paths, the regex cache, rate-limit windows, SQLite's page caches, capped
# at 512 KB a connection) and the interpreter's tables reach their size.
DEFAULT_SECONDS = 600
WARMUP_SECONDS = 1500.0
SAMPLE_EVERY = 2.0  # seconds between memory samples (1 s in runs shorter than 10 minutes)
RESTART_GRACE = 2.0  # seconds after the restarted server answered /healthz


class SoakServer:
    """`forkable serve` on a fixed port, so visitors find the restarted one at the same URL."""

    def __init__(self, site: Path, folder: Path, env: Mapping[str, str]) -> None:
        self.site = site
        self.folder = folder
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self) -> float:
        self.starts += 1
        log = self.folder / f"server-{self.starts}.log"
        command = [sys.executable, "-m", "forkable", "serve", str(self.site)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return wait_until_healthy(self.url, self.process, timeout=60)

    def kill(self) -> None:
        if self.process is None:
            raise RuntimeError("the server was never started")
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float) -> str:
        """SIGTERM, then SIGKILL after ``timeout``; how it ended."""
        if self.process is None or self.process.poll() is not None:
            return "not running"
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
            return f"exited {self.process.returncode} on SIGTERM"
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return f"SIGKILL after {timeout:.0f} s without exiting on SIGTERM"


class Timeline:
    """When things happened, in seconds since the run started."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.kill_sent: float | None = None  # monotonic
        self.back_up: float | None = None  # monotonic: the restarted server answered
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.started, 2)

    def in_kill_window(self, moment: float) -> bool:
        if self.kill_sent is None:
            return False
        end = (self.back_up or math.inf) + RESTART_GRACE
        return self.kill_sent <= moment <= end


def sample_memory(
    server: SoakServer,
    data_dir: Path,
    timeline: Timeline,
    samples: list[Sample],
    stop: threading.Event,
    every: float,
) -> None:
    while not stop.wait(every):
        pid = server.pid
        finished = finished_generations(data_dir)
        rss = rss_kb(pid) if pid else None
        if rss is None or finished is None:
            continue
        at = round(time.monotonic() - timeline.started, 1)
        database_kb = database_file(data_dir).stat().st_size // 1024
        sqlite = sqlite_kb(server.url)
        samples.append(Sample(at, server.starts, rss, finished, database_kb, sqlite))


def load_sampler(loads: list[float], stop: threading.Event) -> None:
    while not stop.wait(5):
        loads.append(load_average())


# --- the report ------------------------------------------------------------------------------


def request_summary(calls: list[Call], timeline: Timeline) -> dict[str, Any]:
    answered = [c for c in calls if c.status is not None]
    unanswered = [c for c in calls if c.status is None]
    in_window = [c for c in unanswered if timeline.in_kill_window(c.ended)]
    outside = [c for c in unanswered if not timeline.in_kill_window(c.ended)]
    errors_5xx = [c for c in answered if c.status is not None and c.status >= 500]
    counted = len(answered) + len(outside)
    good = len(answered) - len(errors_5xx)
    statuses = Counter(str(c.status) for c in answered)
    return {
        "requests": len(calls),
        "answered": len(answered),
        "answered_without_5xx": good,
        "5xx": len(errors_5xx),
        "5xx_by_route": dict(Counter(f"{c.route} {c.status}" for c in errors_5xx)),
        "unanswered_outside_kill_window": len(outside),
        "unanswered_outside_by_error": dict(Counter(f"{c.route}: {c.error}" for c in outside)),
        "unanswered_in_kill_window": len(in_window),
        "kill_window_errors": dict(Counter(str(c.error) for c in in_window)),
        "answered_ratio": good / counted if counted else 0.0,
        "statuses": dict(sorted(statuses.items())),
    }


def route_table(calls: list[Call]) -> list[dict[str, Any]]:
    by_route: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_route[call.route].append(call)
    rows = []
    for route, mine in sorted(by_route.items(), key=lambda item: -len(item[1])):
        answered = [c.seconds * 1000 for c in mine if c.status is not None]
        statuses = Counter("none" if c.status is None else f"{c.status // 100}xx" for c in mine)
        rows.append(
            {
                "route": route,
                "requests": len(mine),
                "statuses": dict(sorted(statuses.items())),
                "p50_ms": round(percentile(answered, 0.5), 1),
                "p99_ms": round(percentile(answered, 0.99), 1),
            }
        )
    return rows


def section(seconds: float) -> tuple[str, str]:
    """The docs/benchmarks.md section a run of this length is recorded in, and its heading."""
    if seconds <= DEFAULT_SECONDS:
        return "soak", "## Soak (issue 16)"
    return "soak-long", "## Soak, a long run for memory (issue 16)"


def markdown(report: dict[str, Any]) -> str:
    req = report["requests"]
    tok = report["tokens"]
    gen = report["generations"]
    mem = report["memory"]
    bak = report["backup"]
    faults = report["faults"]
    lines = [
        section(report["seconds"])[1],
        "",
        f"`{report['command']}` on {report['date']}: {report['machine']}; load average "
        f"{report['load']['start']:.2f} at the start, {report['load']['max']:.2f} at most, "
        f"{report['load']['end']:.2f} at the end (other work shares the machine).",
        "",
        f"A real `forkable serve` (SQLite, local media, {WORKERS} generation threads, lease "
        f"{LEASE_SECONDS} s) for {report['seconds']} s with {report['visitors']} visitors at a "
        "time; the fake Gemini failed "
        f"{FAILURE_RATE:.0%} of calls (503, 500, 429, 400, IMAGE_SAFETY evenly) and left "
        f"{TIMEOUT_RATE:.0%} unanswered past the client's 60 s; a backup at "
        f"{report['timeline'].get('backup started', 0):.0f} s, SIGKILL at "
        f"{report['timeline'].get('SIGKILL', 0):.0f} s, healthy again at "
        f"{report['timeline'].get('restarted', 0):.0f} s "
        f"(start-up {report['restart_seconds']:.1f} s); at the end {report['stopped']}.",
        "",
        "| result | value | target |",
        "| --- | --- | --- |",
        f"| requests answered without 5xx | {req['answered_without_5xx']:,} of "
        f"{req['answered'] + req['unanswered_outside_kill_window']:,} = "
        f"{req['answered_ratio']:.4%} ({req['5xx']} 5xx, "
        f"{req['unanswered_outside_kill_window']} unanswered outside the kill window) | "
        f">= {ANSWERED_TARGET:.1%} |",
        f"| answers by status | "
        f"{', '.join(f'{k} {v}' for k, v in req['statuses'].items())} | no 5xx |",
        f"| unanswered during the SIGKILL window (not counted above) | "
        f"{req['unanswered_in_kill_window']} "
        f"({', '.join(f'{k} {v}' for k, v in req['kill_window_errors'].items()) or 'none'}) | "
        "reported |",
        f"| generations succeeded / failed and refunded / in flight at the end | "
        f"{gen['succeeded']} / {gen['failed_refunded']} / {gen['in_flight']} "
        f"(failed, not refunded: {gen['failed_not_refunded']}) | none unrefunded |",
        f"| provider calls: ok / failed / timed out | {faults.get('ok', 0)} / "
        f"{faults['failed']} / {faults.get('timeout', 0)} | 20% / 5% |",
        f"| webhooks: duplicate deliveries / out-of-order pairs / retried | "
        f"{report['counts'].get('duplicate deliveries sent', 0)} / "
        f"{report['counts'].get('out-of-order pairs sent', 0)} / "
        f"{report['counts'].get('webhook retried', 0)} | each credited once |",
        f"| tokens: bought + granted = spent + clawed back + held + available | "
        f"{tok['bought']} + {tok['granted']} = {tok['spent']} + {tok['clawed_back']} + "
        f"{tok['held']} + {tok['available']} ({'conserved' if tok['conserved'] else 'NOT'}) "
        "| exact |",
        f"| acknowledged writes lost | {sum(report['lost'].values())} | 0 |",
        f"| `forkable ledger verify` | {'clean' if report['verify']['ok'] else 'FAILED'} | clean |",
        f"| backup mid-run ({bak['seconds']:.1f} s, traffic flowing) restores and verifies | "
        f"{'yes' if bak['ok'] else 'NO'} (restore {bak['restore_seconds']:.1f} s) | yes |",
        f"| resident memory | {mem['summary']} | < {GROWTH_TARGET} B/generation |",
        "",
        "| route | requests | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in report["routes"]:
        lines.append(
            f"| `{row['route']}` | {row['requests']} | {row['p50_ms']} | {row['p99_ms']} |"
        )
    lines += [
        "",
        "Latency is the client's, from request to the last byte, while the server makes images "
        "on the same two cores. The SIGKILL window runs from the kill to "
        f"{RESTART_GRACE:.0f} s after the restarted server answered `/healthz`; requests "
        "refused or cut off in it are listed apart, not as 5xx. Memory growth is the "
        "Theil-Sen slope (the median of pairwise slopes, blind to the 64 MiB spikes of "
        "password hashes) of VmRSS sampled every 2 s against generations finished, after a "
        f"warm-up of {report['warmup']:.0f} s into each segment, fitted separately before and "
        "after the restart, with Sen's 95% interval (of all the slopes, counting one sample in "
        f"five as independent); a segment is judged with at least {FIT_AT_LEAST:.0f} s of "
        "traffic after its warm-up. SQLite's heap (`forkable_sqlite_memory_bytes`, mostly its "
        "page caches) is read from the server's `/metrics` with each sample.",
    ]
    return "\n".join(lines)


def memory_summary(
    growths: list[Growth], verdict: dict[str, Any], trim: dict[str, int | None] | None
) -> str:
    parts = []
    for g in growths:
        if g.bytes_per_generation is None:
            parts.append(f"segment {g.segment}: not past its warm-up")
            continue
        parts.append(
            f"segment {g.segment}: {g.start_mb:.0f} -> {g.end_mb:.0f} MB over {g.generations} "
            f"generations in {g.seconds:.0f} s, {g.bytes_per_generation:.0f} B/generation"
            + (
                f" (95%: {g.low:.0f} to {g.high:.0f})"
                if g.low is not None and g.high is not None
                else ""
            )
            + (
                f", SQLite {g.sqlite_start_mb:.1f} -> {g.sqlite_end_mb:.1f} MB"
                if g.sqlite_start_mb is not None and g.sqlite_end_mb is not None
                else ""
            )
            + ("" if g.seconds >= FIT_AT_LEAST else " (too short to judge)")
        )
    if trim and trim["before_kb"] and trim["after_kb"]:
        parts.append(
            f"after the drain {trim['before_kb'] / 1024:.0f} MB, "
            f"{trim['after_kb'] / 1024:.0f} MB once `malloc_trim(0)` returned the free heap"
        )
    return "; ".join(parts) + f"; {verdict['verdict']}"


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    site = site_copy(folder, SITE_SETTINGS)
    manifest = tomllib.loads((site / "site.toml").read_text())
    signup_bonus = int(manifest["pricing"]["signup_bonus"])
    data_dir = folder / "var"
    data_dir.mkdir()
    photos = [jpeg(photo(name, PHOTO_SIDE), 85) for name in ("astronaut", "chelsea", "coffee")]
    flaky = Flaky(failure_rate=FAILURE_RATE, timeout_rate=TIMEOUT_RATE, seed=args.seed)
    recorder, ledger = Recorder(), Ledger()
    stop, give_up, sampling = threading.Event(), threading.Event(), threading.Event()
    samples: list[Sample] = []
    loads = [load_average()]

    with FakeGemini(record=False) as gemini, FakeStripe() as stripe:
        gemini.default = flaky
        env = server_env(
            WORKERS,
            {
                "FORKABLE_DATA_DIR": str(data_dir),
                "GEMINI_API_KEY": "soak-key",
                "FORKABLE_GEMINI_BASE_URL": gemini.url,
                "STRIPE_SECRET_KEY": stripe.api_key,
                "STRIPE_WEBHOOK_SECRET": stripe.webhook_secret,
                "FORKABLE_STRIPE_API_BASE": stripe.url,
                "FORKABLE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            },
        )
        server = SoakServer(site, folder, env)
        startup = server.start()
        packs = {p["id"]: p["tokens"] for p in httpx.get(f"{server.url}/api/v1/packs").json()}
        shop = Shop(stripe, server.url, recorder, give_up)
        timeline = Timeline()
        run_id = secrets.token_hex(3)
        visitors = [
            Visitor(
                n,
                url=server.url,
                photos=photos,
                packs=packs,
                shop=shop,
                recorder=recorder,
                ledger=ledger,
                stop=stop,
                run_id=run_id,
                seed=args.seed * 1000 + n,
            )
            for n in range(args.visitors)
        ]
        arrive_within = min(20.0, args.seconds / 10)
        threads = [
            threading.Thread(target=v.run, args=(arrive_within,), daemon=True) for v in visitors
        ]
        every = SAMPLE_EVERY if args.seconds >= 600 else 1.0
        helpers = [
            threading.Thread(
                target=sample_memory,
                args=(server, data_dir, timeline, samples, sampling, every),
                daemon=True,
            ),
            threading.Thread(target=load_sampler, args=(loads, sampling), daemon=True),
        ]
        for thread in threads + helpers:
            thread.start()

        archive = folder / "backup" / "mid-run.tar.gz"
        archive.parent.mkdir()
        backup: list[Command] = []

        def take_backup() -> None:
            timeline.mark("backup started")
            backup.append(forkable(["backup", str(archive)], env))
            timeline.mark("backup done")

        backup_thread = threading.Thread(target=take_backup)
        deadline = timeline.started + args.seconds
        time.sleep(max(0.0, timeline.started + BACKUP_AT * args.seconds - time.monotonic()))
        backup_thread.start()
        time.sleep(max(0.0, timeline.started + args.kill_at * args.seconds - time.monotonic()))
        timeline.kill_sent = time.monotonic()
        timeline.mark("SIGKILL")
        server.kill()
        restart_seconds = server.start()
        timeline.back_up = time.monotonic()
        timeline.mark("restarted")
        time.sleep(max(0.0, deadline - time.monotonic()))

        timeline.mark("traffic stopped")
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        backup_thread.join()
        drained_by = time.monotonic() + args.drain
        while unfinished_generations(data_dir) and time.monotonic() < drained_by:
            time.sleep(0.5)
        timeline.mark("drained")
        sampling.set()
        trim = trimmed_rss(server.pid) if server.pid else None
        give_up.set()
        stopped = server.stop(timeout=15)
        timeline.mark("server stopped")
        loads.append(load_average())
        faults = dict(flaky.counts)

    calls = recorder.snapshot()
    tokens = read_tokens(data_dir, ledger, signup_bonus)
    outcomes = read_outcomes(data_dir, ledger)
    verify = forkable(["ledger", "verify"], env)
    restored_dir = folder / "restored" / "var"
    restored_env = {**env, "FORKABLE_DATA_DIR": str(restored_dir)}
    made = backup[0] if backup else Command([], -1, 0.0, "no backup was taken")
    restore = (
        forkable(["restore", str(archive)], restored_env)
        if made.ok
        else Command([], -1, 0.0, "nothing to restore")
    )
    restored_verify = (
        forkable(["ledger", "verify"], restored_env)
        if restore.ok
        else Command([], -1, 0.0, "nothing restored")
    )
    until = timeline.marks["traffic stopped"]
    growths = [g for g in (fit_growth(samples, s, args.warmup, until) for s in (1, 2)) if g]
    verdict = memory_verdict(growths)
    requests = request_summary(calls, timeline)
    report: dict[str, Any] = {
        "command": " ".join(["benchmarks/soak.py", *sys.argv[1:]]),
        "date": today(),
        "machine": machine(),
        "seconds": args.seconds,
        "visitors": args.visitors,
        "warmup": args.warmup,
        "load": {"start": loads[0], "max": max(loads), "end": loads[-1]},
        "startup_seconds": round(startup, 2),
        "restart_seconds": round(restart_seconds, 2),
        "restarted": server.starts == 2,
        "stopped": stopped,
        "timeline": timeline.marks,
        "requests": requests,
        "routes": route_table(calls),
        "counts": dict(recorder.counts),
        "faults": {
            **faults,
            "failed": sum(n for k, n in faults.items() if k not in ("ok", "timeout")),
        },
        "generations": {
            "succeeded": outcomes.succeeded,
            "failed_refunded": outcomes.failed_refunded,
            "failed_not_refunded": outcomes.failed_not_refunded,
            "in_flight": outcomes.in_flight,
            "by_state": outcomes.generations,
        },
        "purchases": outcomes.purchases,
        "stripe_events": outcomes.stripe_events,
        "lost": outcomes.lost,
        "tokens": {**asdict(tokens), "conserved": tokens.conserved},
        "verify": {"ok": verify.ok, "output": verify.output},
        "backup": {
            "ok": made.ok and restore.ok and restored_verify.ok,
            "seconds": made.seconds,
            "backup_output": made.output,
            "restore_seconds": restore.seconds,
            "restore_output": restore.output,
            "restored_verify_output": restored_verify.output,
        },
        "memory": {
            **verdict,
            "summary": memory_summary(growths, verdict, trim),
            "trim": trim,
            "segments": [asdict(g) for g in growths],
            "samples": [asdict(s) for s in samples],
        },
    }
    report["targets"] = {
        "answered without 5xx": requests["answered_ratio"] >= ANSWERED_TARGET,
        "tokens conserved": tokens.conserved,
        "no acknowledged write lost": sum(outcomes.lost.values()) == 0,
        "every failed generation refunded": outcomes.failed_not_refunded == 0,
        "ledger verify clean": verify.ok,
        "backup restores and verifies": report["backup"]["ok"],
        "memory flat": verdict["ok"],
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=int, default=DEFAULT_SECONDS, help="how long visitors keep coming"
    )
    parser.add_argument("--visitors", type=int, default=8, help="visitors at a time")
    parser.add_argument("--drain", type=float, default=90, help="seconds to let jobs finish")
    parser.add_argument(
        "--warmup", type=float, default=WARMUP_SECONDS, help="seconds of memory not fitted"
    )
    parser.add_argument(
        "--kill-at", type=float, default=0.5, help="when to SIGKILL the server, as a fraction"
    )
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args()
    if not 0 < args.kill_at < 1:
        parser.error(f"--kill-at is a fraction of the run, between 0 and 1, not {args.kill_at}")
    if args.keep:
        args.keep.mkdir(parents=True)
        report = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="forkable-soak-") as folder:
            report = run(args, Path(folder))
    body = markdown(report)
    print(body)
    missed = [name for name, ok in report["targets"].items() if not ok]
    print("\ntargets: " + ("all met" if not missed else "MISSED: " + ", ".join(missed)))
    if not report["memory"]["judged"]:
        print(f"memory: {report['memory']['verdict']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.record:
        write_section(section(args.seconds)[0], body)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
