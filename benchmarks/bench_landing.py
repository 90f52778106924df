"""Landing page and /healthz under load, against a bare Starlette app in the same run.

Usage: .venv/bin/python benchmarks/bench_landing.py [--seconds 15] [--rate 200]
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import ROOT, machine, open_loop, run_process, today, write_section, wrk

PYTHON = sys.executable


def forkable_command(data_dir: Path) -> tuple[list[str], dict[str, str]]:
    command = [
        PYTHON,
        "-m",
        "forkable",
        "serve",
        str(ROOT / "examples" / "coloringbook"),
        "--port",
        "{port}",
    ]
    return command, {"FORKABLE_DATA_DIR": str(data_dir)}


def cold_starts(runs: int) -> list[float]:
    """Seconds from process start to the first 200 from /healthz, with an empty data dir."""
    seconds: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            command, env = forkable_command(Path(tmp) / "var")
            with run_process(command, env) as server:
                seconds.append(server.startup_seconds)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()

    starts = cold_starts(args.cold_runs)
    rows: list[str] = []
    hello_cmd = [
        PYTHON,
        "-m",
        "uvicorn",
        "--app-dir",
        str(ROOT / "benchmarks"),
        "hello_app:app",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        command, env = forkable_command(Path(tmp) / "var")
        with run_process(hello_cmd) as hello, run_process(command, env) as site:
            targets = [
                ("bare Starlette `hello`", hello.url + "/"),
                ("forkable `/healthz`", site.url + "/healthz"),
                ("forkable landing page `/`", site.url + "/"),
            ]
            for label, url in targets:
                loop = open_loop(url, args.rate, args.seconds)
                closed = wrk(url, seconds=int(args.seconds))
                rows.append(
                    f"| {label} | {loop.median_ms:.1f} | {loop.p99_ms:.1f} | "
                    f"{loop.achieved_rps:.0f} | {loop.errors} | "
                    + (
                        f"{closed.rps:.0f} | {closed.median_ms:.1f} | {closed.p99_ms:.1f} |"
                        if closed
                        else "n/a | n/a | n/a |"
                    )
                )
                print(rows[-1], flush=True)

    body = f"""## Landing page and `/healthz` (issue 2)

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_landing.py --seconds {args.seconds:g} --rate {args.rate:g}`.
One uvicorn worker each; the load generator runs in a second process on the same 2 cores.

Open loop: requests sent at a fixed {args.rate:g} per second whatever the answers, latency from
when each request was due. Closed loop: `wrk -t1 -c16` for maximum throughput.

| target | open-loop median ms | open-loop p99 ms | achieved req/s | errors | wrk req/s | wrk median ms | wrk p99 ms |
| --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Cold start of `forkable serve examples/coloringbook` (empty data dir: creates and migrates the
SQLite database) to the first 200 from `/healthz`, {args.cold_runs} runs: median
{statistics.median(starts):.2f} s, max {max(starts):.2f} s. Target: under 3 s; landing page
p99 under 50 ms at 200 req/s.
"""
    write_section("landing", body)
    print(body)


if __name__ == "__main__":
    main()
