"""The coloring_book filter on a 12-megapixel photo, and a server's peak memory on four at once.

Usage: .venv/bin/python benchmarks/bench_filter.py [--runs 7] [--rounds 2] [--photo coffee]
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from common import machine, today, write_section
from flow import PHOTOS, ApiUser, camera_like, decode, grant, jpeg, photo, served_site

from forkable.providers.local import apply_filter

FILTER = "coloring_book"
SIZE = (4000, 3000)
QUALITY = 92
# Standard deviation of the added grain, in 8-bit levels: enough to give the JPEG a camera
# file's size and texture, little enough that the photo still looks clean.
NOISE = 6.0
WORKERS = 4
CONCURRENT = 4
SAMPLE_SECONDS = 0.05
TIME_TARGET_S = 1.0
MEMORY_TARGET_MB = 500.0
SITE_SETTINGS = {"generations_per_minute": "600"}


def camera_file(name: str, seed: int) -> bytes:
    """A 12-MP JPEG from a scikit-image photo: upscaled (Lanczos), grain added, q92."""
    source = photo(name, 640)  # about the photos' own size (451-640 px): upscaling adds no detail
    return jpeg(camera_like(source, SIZE, NOISE, seed), QUALITY)


# --- the filter alone -----------------------------------------------------------------------


@dataclass(frozen=True)
class FilterTimes:
    decode_s: list[float]
    filter_s: list[float]


def time_filter(data: bytes, runs: int) -> FilterTimes:
    """Decode the JPEG and run the filter ``runs`` times, after one warm-up run."""
    apply_filter(FILTER, decode(data))
    decodes, filters = [], []
    for _ in range(runs):
        started = time.perf_counter()
        image = decode(data)
        decoded = time.perf_counter()
        apply_filter(FILTER, image)
        decodes.append(decoded - started)
        filters.append(time.perf_counter() - decoded)
    return FilterTimes(decodes, filters)


# --- a serving process's memory -------------------------------------------------------------


def read_status_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) of a process, in kB (psutil is not installed)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


class RssSampler:
    """Samples a process's RSS every SAMPLE_SECONDS in a thread, keeping the highest."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, read_status_kb(self.pid)["VmRSS"])
            self.samples += 1
            self._stop.wait(SAMPLE_SECONDS)


@dataclass(frozen=True)
class MemoryRound:
    before_mb: float
    peak_mb: float  # highest sampled VmRSS during the round
    hwm_mb: float  # the kernel's VmHWM after the round: the true peak since start
    seconds: float
    samples: int


def concurrent_round(user: ApiUser, pid: int, files: list[bytes]) -> MemoryRound:
    """Upload the files at once and wait for every result, sampling the server's RSS."""
    before = read_status_kb(pid)["VmRSS"]
    started = time.perf_counter()
    with RssSampler(pid) as sampler, ThreadPoolExecutor(len(files)) as pool:
        submitted = list(pool.map(user.submit, files))
        for generation_id, at in submitted:
            user.wait(generation_id, at, poll=0.1)
    after = read_status_kb(pid)
    return MemoryRound(
        before_mb=before / 1024,
        peak_mb=max(sampler.peak_kb, after["VmRSS"]) / 1024,
        hwm_mb=after["VmHWM"] / 1024,
        seconds=time.perf_counter() - started,
        samples=sampler.samples,
    )


def measure_memory(
    folder: Path, files: list[bytes], rounds: int
) -> tuple[float, list[MemoryRound]]:
    """The server's RSS once warmed up, and one MemoryRound per round of concurrent uploads."""
    with served_site(folder, workers=WORKERS, settings=SITE_SETTINGS) as (server, data):
        user = ApiUser(server.url, "memory@example.com")
        grant(data, user.email, 1 + rounds * len(files))
        # One small photo first, so the round measures the work and not first-use imports.
        generation_id, at = user.submit(jpeg(photo("chelsea", 800), 90))
        user.wait(generation_id, at, poll=0.05)
        idle = read_status_kb(server.process.pid)["VmRSS"] / 1024
        results = []
        for _ in range(rounds):
            results.append(concurrent_round(user, server.process.pid, files))
            print(results[-1], flush=True)
        user.close()
    return idle, results


# --- report ---------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def report(
    args: argparse.Namespace,
    files: list[bytes],
    times: FilterTimes,
    idle_mb: float,
    rounds: list[MemoryRound],
) -> str:
    median = statistics.median(times.filter_s)
    peak = max(max(r.peak_mb, r.hwm_mb) for r in rounds)
    sizes = ", ".join(f"{len(data) / 1e6:.1f} MB" for data in files)
    runs = ", ".join(f"{s:.2f}" for s in times.filter_s)
    round_rows = "\n".join(
        f"| {i + 1} | {r.before_mb:.0f} | {r.peak_mb:.0f} | {r.hwm_mb:.0f} | {r.seconds:.1f} | "
        f"{r.samples} |"
        for i, r in enumerate(rounds)
    )
    return f"""## coloring_book on 12-megapixel photos

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_filter.py --runs {args.runs} --rounds {args.rounds} --photo {args.photo}`.

Photo: scikit-image `{args.photo}` cropped to 4:3, upscaled with Pillow Lanczos to
{SIZE[0]}x{SIZE[1]}, Gaussian grain (sigma {NOISE:g} levels) added, saved as JPEG q{QUALITY}
({len(camera_file(args.photo, 0)) / 1e6:.1f} MB), then decoded. `apply_filter("{FILTER}", image)` with default
parameters, {args.runs} runs after a warm-up, one at a time: {runs} s.

**Median {median:.2f} s per 12-MP photo** (target under {TIME_TARGET_S:g} s:
{verdict(median < TIME_TARGET_S)}); decoding the JPEG took a median
{statistics.median(times.decode_s):.2f} s more.

Memory: `forkable serve` on a copy of `examples/coloringbook` with `FORKABLE_WORKERS={WORKERS}`
(SQLite, local filter), warmed up with one small generation (RSS then {idle_mb:.0f} MB). Each
round uploads {CONCURRENT} 12-MP JPEGs made the same way from {", ".join(PHOTOS[:CONCURRENT])} ({sizes}) at once over the API and waits for all
four results, while `/proc/PID/status` VmRSS is sampled every {SAMPLE_SECONDS * 1000:.0f} ms;
VmHWM (the kernel's own peak since start) is read after the round.

| round | RSS before MB | peak sampled RSS MB | VmHWM MB | seconds | samples |
| --- | --- | --- | --- | --- | --- |
{round_rows}

**Peak RSS {peak:.0f} MB** with four 12-MP photos in flight (target under
{MEMORY_TARGET_MB:.0f} MB: {verdict(peak < MEMORY_TARGET_MB)}).
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--photo", default="coffee")
    args = parser.parse_args()
    started = time.monotonic()
    # Four different photos, so the round is not four copies of one easy (or hard) case.
    files = [camera_file(name, seed) for seed, name in enumerate(PHOTOS[:CONCURRENT])]
    times = time_filter(camera_file(args.photo, 0), args.runs)
    print("filter s:", [round(s, 3) for s in times.filter_s], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        idle, rounds = measure_memory(Path(tmp), files, args.rounds)
    body = report(args, files, times, idle, rounds)
    write_section("filter", body)
    print(body)
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
