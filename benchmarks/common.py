"""Helpers shared by the benchmarks: servers in subprocesses, load, and the results page."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks.md"
sys.path.insert(0, str(ROOT))

from tests.serving import free_port, wait_until_healthy  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def load_average() -> float:
    """The one-minute load average: other work on the machine shows here."""
    return os.getloadavg()[0]


def today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    url: str
    startup_seconds: float


@contextmanager
def run_process(command: list[str], env: dict[str, str] | None = None) -> Iterator[Process]:
    """Start a server command whose port is given as {port}; wait for /healthz."""
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in command]
    started = time.monotonic()
    popen = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, popen, timeout=60)
        yield Process(popen, url, time.monotonic() - started)
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()


@dataclass
class OpenLoopResult:
    rate: float
    sent: int
    errors: int
    median_ms: float
    p99_ms: float
    achieved_rps: float


def open_loop(
    url: str, rate: float, seconds: float, headers: dict[str, str] | None = None
) -> OpenLoopResult:
    """Send requests at a fixed rate (not waiting for answers), so slow answers show as latency."""
    return asyncio.run(_open_loop(url, rate, seconds, headers or {}))


async def _open_loop(
    url: str, rate: float, seconds: float, headers: dict[str, str]
) -> OpenLoopResult:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=10, headers=headers) as client:

        async def one(scheduled: float) -> None:
            nonlocal errors
            try:
                response = await client.get(url)
                if response.status_code != 200:
                    errors += 1
                    return
            except httpx.HTTPError:
                errors += 1
                return
            # Latency from when the request was due, so a stalled generator is not hidden.
            latencies.append(time.perf_counter() - scheduled)

        for _ in range(20):  # warm up connections and caches
            await one(time.perf_counter())
        latencies.clear()
        total = int(rate * seconds)
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return OpenLoopResult(
        rate=rate,
        sent=total,
        errors=errors,
        median_ms=statistics.median(ms) if ms else float("nan"),
        p99_ms=percentile(ms, 0.99),
        achieved_rps=len(ms) / elapsed,
    )


@dataclass
class WrkResult:
    rps: float
    median_ms: float
    p99_ms: float


def wrk(
    url: str,
    seconds: int = 10,
    connections: int = 16,
    threads: int = 1,
    host: str | None = None,
    headers: dict[str, str] | None = None,
) -> WrkResult | None:
    """Closed-loop maximum throughput with wrk, if it is installed."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if host:
        command[1:1] = ["-H", f"Host: {host}"]
    for name, value in (headers or {}).items():
        command[1:1] = ["-H", f"{name}: {value}"]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return WrkResult(rps=rps, median_ms=_wrk_ms(output, "50%"), p99_ms=_wrk_ms(output, "99%"))


def _wrk_ms(output: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", output)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between `<!-- NAME -->` markers in docs/benchmarks.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this run (named ``prefix`` + random), dropped after."""
    import secrets

    from sqlalchemy import create_engine, text

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
