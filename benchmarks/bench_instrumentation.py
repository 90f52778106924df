"""What instrumentation costs: metrics, request ids and JSON access logs on against off.

Two `forkable serve` processes run side by side in the same run, one as shipped and one with
`FORKABLE_METRICS=off` (no metrics middleware, no request context, no access log); wrk
measures each in turn, alternating which goes first, for the landing page and a JSON API.

Usage: .venv/bin/python benchmarks/bench_instrumentation.py [--seconds 8] [--rounds 3]
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import (
    ROOT,
    OpenLoopResult,
    Process,
    machine,
    open_loop,
    run_process,
    today,
    write_section,
    wrk,
)

PYTHON = sys.executable
TARGETS = {"landing page `/`": "/", "API `GET /api/v1/packs`": "/api/v1/packs"}
MODES = ("on", "off")


def command(data_dir: Path) -> list[str]:
    site = str(ROOT / "examples" / "coloringbook")
    return [PYTHON, "-m", "forkable", "serve", site, "--port", "{port}"]


def environment(data_dir: Path, mode: str) -> dict[str, str]:
    env = {"FORKABLE_DATA_DIR": str(data_dir), "FORKABLE_LOG_FORMAT": "json"}
    if mode == "off":
        env["FORKABLE_METRICS"] = "off"
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Results = dict[tuple[str, str], list[float]]


def measure(
    servers: dict[str, Process], seconds: int, rounds: int, rate: float
) -> tuple[Results, Results, dict[tuple[str, str], OpenLoopResult]]:
    """wrk req/s and server CPU ms per request for each (target, mode), round by round;
    then one open-loop run of each."""
    rps: Results = {}
    cpu: Results = {}
    latency: dict[tuple[str, str], OpenLoopResult] = {}
    for number in range(rounds):
        order = MODES if number % 2 == 0 else tuple(reversed(MODES))
        for label, path in TARGETS.items():
            for mode in order:
                server = servers[mode]
                before = cpu_seconds(server.popen.pid)
                result = wrk(server.url + path, seconds=seconds)
                if result is None:
                    raise SystemExit("wrk is not installed: apt-get install wrk")
                used = cpu_seconds(server.popen.pid) - before
                rps.setdefault((label, mode), []).append(result.rps)
                cpu.setdefault((label, mode), []).append(used * 1000 / (result.rps * seconds))
                print(
                    f"round {number + 1} {mode:>3} {label}: {result.rps:.0f} req/s, "
                    f"{cpu[(label, mode)][-1]:.3f} CPU ms/request",
                    flush=True,
                )
    for label, path in TARGETS.items():
        for mode in MODES:
            latency[(label, mode)] = open_loop(servers[mode].url + path, rate, seconds)
    return rps, cpu, latency


def report(
    rps: Results,
    cpu: Results,
    latency: dict[tuple[str, str], OpenLoopResult],
    args: argparse.Namespace,
) -> str:
    rows = []
    for label in TARGETS:
        on, off = (statistics.median(rps[(label, mode)]) for mode in MODES)
        cpu_on, cpu_off = (statistics.median(cpu[(label, mode)]) for mode in MODES)
        lat_on, lat_off = latency[(label, "on")], latency[(label, "off")]
        rows.append(
            f"| {label} | {off:.0f} | {on:.0f} | {(on / off - 1) * 100:+.1f}% | "
            f"{cpu_off:.3f} | {cpu_on:.3f} | {(cpu_on / cpu_off - 1) * 100:+.1f}% | "
            f"{lat_off.median_ms:.1f} / {lat_off.p99_ms:.1f} | "
            f"{lat_on.median_ms:.1f} / {lat_on.p99_ms:.1f} |"
        )
    each = "; ".join(
        f"{label} {mode}: " + ", ".join(f"{value:.0f}" for value in rps[(label, mode)])
        for label in TARGETS
        for mode in MODES
    )
    return f"""## Cost of instrumentation (metrics, request ids, JSON access logs)

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_instrumentation.py --seconds {args.seconds} --rounds {args.rounds} --rate {args.rate:g}`.

Two `forkable serve examples/coloringbook` processes (one uvicorn worker each, SQLite) run
side by side: **on** as shipped with `FORKABLE_LOG_FORMAT=json` (the metrics middleware, the
request-id middleware and one JSON access-log line per request, written to /dev/null), and
**off** with `FORKABLE_METRICS=off` (none of the three). Throughput: `wrk -t1 -c16` for
{args.seconds} s on each in turn, {args.rounds} rounds alternating which goes first; the
table gives the median of the rounds. Other jobs share the 2 cores and move req/s from run to
run, so the server's CPU time per request (user + system from `/proc/PID/stat` over the wrk
run, divided by the requests served), which they move much less, is given beside it.
Latency: open loop at {args.rate:g} req/s for {args.seconds} s, median / p99 in ms.
Target: instrumentation costs under 10% of throughput.

| target | off req/s | on req/s | req/s change | off CPU ms/req | on CPU ms/req | CPU change | off median / p99 ms | on median / p99 ms |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Every round (req/s): {each}.
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        on_dir, off_dir = Path(tmp) / "on", Path(tmp) / "off"
        with (
            run_process(command(on_dir), environment(on_dir, "on")) as on,
            run_process(command(off_dir), environment(off_dir, "off")) as off,
        ):
            rps, cpu, latency = measure(
                {"on": on, "off": off}, args.seconds, args.rounds, args.rate
            )
    body = report(rps, cpu, latency, args)
    write_section("instrumentation", body)
    print(body)


if __name__ == "__main__":
    main()
