"""What giving free heap back costs and earns: `forkable.allocator.release_free_memory`
(`malloc_trim(0)`), as serving and worker processes call it every 10 s.

Usage: .venv/bin/python benchmarks/bench_memory_release.py [--megabytes 270] [--calls 15]
                                                          [--reps 6] [--rounds 6]
Writes its section of docs/benchmarks.md.

The call: a heap shaped like a serving process's after a busy minute (blocks of 4 KB to 2 MB,
request bodies and encoded and decoded images, kept alive, one in twelve freed in between;
each call frees a further one in twenty-four after refilling them, so every call finds new free
pages to hand back), timed call by call.

Served: each round starts two fresh `forkable serve` processes side by side, one as shipped and
one whose release does nothing (a `sitecustomize` on its PYTHONPATH), and sends each photo to
one then the other (bench_allocator.py's paired rounds): the latency a generation pays for the
pages it faults back in after a release, against the resident memory the release gives back.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Mapping
from pathlib import Path

from bench_allocator import RULE, median_ms, paired_rounds, with_sitecustomize
from bench_generations import Pair, Site, direct_filter, make_uploads
from common import load_average, machine, today, write_section

from forkable.allocator import RELEASE_EVERY_SECONDS, release_free_memory, tune_allocator

SIZES = (4096, 65536, 262144, 1 << 20, 2 << 20)
KEEPING = Path(__file__).resolve().parent / "no_memory_release"
MODES = {"as shipped": {}, "no release": with_sitecustomize(KEEPING)}


def time_calls(megabytes: int, calls: int) -> list[float]:
    """Milliseconds of each `release_free_memory` call on a heap of ``megabytes``."""
    tune_allocator({})
    pick = random.Random(16)
    blocks: list[bytearray | None] = []
    while sum(len(b) for b in blocks if b is not None) < megabytes << 20:
        blocks.append(bytearray(pick.choice(SIZES)))
    for i in range(0, len(blocks), 12):
        blocks[i] = None
    took = []
    for _ in range(calls):
        for i in range(0, len(blocks), 24):
            blocks[i] = bytearray(pick.choice(SIZES[:-1]))
        for i in range(0, len(blocks), 24):
            blocks[i] = None
        start = time.perf_counter()
        release_free_memory()
        took.append((time.perf_counter() - start) * 1000)
    del blocks
    release_free_memory()
    return took


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def report(
    calls: list[float],
    results: dict[str, list[Pair]],
    differences: list[float],  # per round: the other server's overhead minus the shipped one's
    resident: Mapping[str, list[float]],
    args: argparse.Namespace,
    load: tuple[float, float],
) -> str:
    shipped, keeping = MODES
    latency = median_ms([p.flow.latency for p in results[shipped]])
    cost = -statistics.median(differences)
    cpu_cost = 1000 * (
        statistics.fmean(p.cpu_overhead for p in results[shipped])
        - statistics.fmean(p.cpu_overhead for p in results[keeping])
    )
    memory = {mode: statistics.median(values) for mode, values in resident.items()}
    earned = memory[keeping] - memory[shipped]
    rows = "\n".join(
        f"| {mode} | {median_ms([p.filter.wall for p in pairs]):.1f} | "
        f"{median_ms([p.flow.latency for p in pairs]):.1f} | "
        f"{median_ms([p.overhead for p in pairs]):.1f} | "
        f"{1000 * statistics.fmean(p.cpu_overhead for p in pairs):.1f} | "
        f"{memory[mode]:.1f} | {max(resident[mode]):.1f} |"
        for mode, pairs in results.items()
    )
    verdict = "kept" if cost / latency < RULE else "**taken out**"
    return f"""## Giving free heap back (`forkable.allocator.release_free_memory`)

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_memory_release.py --megabytes {args.megabytes} --calls {args.calls} --reps {args.reps} --rounds {args.rounds}`.

**The call.** `malloc_trim(0)` on a {args.megabytes} MB heap shaped like a serving process's
after a busy minute: median {statistics.median(calls):.2f} ms, worst {max(calls):.2f} ms over
{args.calls} calls (each arena's lock is held while it is walked).

**What it costs a generation and what it gives back.** Each of the {args.rounds} rounds starts
two fresh `forkable serve` processes side by side on copies of `examples/coloringbook` (SQLite,
local filter): one as shipped, releasing every {RELEASE_EVERY_SECONDS:.0f} s, and one whose
release does nothing (`benchmarks/no_memory_release` on its PYTHONPATH). {args.reps} times each
of the four 1600-px photos of bench_generations.py goes to one server and then to the other
(which first alternating), one generation at a time, each paired with the filter alone in the
benchmark process (overhead = latency minus that); after each photo, both servers' VmRSS is
read. One-minute load average {load[0]:.1f} before the run and {load[1]:.1f} after it (2
cores shared with other work).

| server | filter alone ms (median) | latency ms (median) | overhead ms (median) | mean CPU overhead ms | VmRSS MB (median) | VmRSS MB (max) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{rows}

Per round, the shipped server's overhead minus the other's (medians):
{", ".join(f"{-d:+.1f}" for d in differences)} ms.

**The release costs {cost:+.1f} ms per generation, {cost / latency:+.1%} of a generation's
median wall time** ({latency:.0f} ms; median of the per-round differences; by CPU time
{cpu_cost:+.1f} ms), **and keeps resident memory {earned:.1f} MB lower** (medians of the
VmRSS readings, {earned / memory[keeping]:.1%}). Rule: the release is there for memory, and
stays unless it costs a generation more than {RULE:.0%} of its wall time, which a user would
feel: {verdict}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=270, help="heap for the call's timing")
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--reps", type=int, default=6, help="each photo per server per round")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    started = time.monotonic()
    load_before = load_average()
    calls = time_calls(args.megabytes, args.calls)
    print(f"call: median {statistics.median(calls):.2f} ms, worst {max(calls):.2f} ms")
    uploads = make_uploads()
    direct_filter(uploads[0].image)  # warm up OpenCV and numpy
    resident: dict[str, list[float]] = {mode: [] for mode in MODES}

    def read_memory(sites: Mapping[str, Site]) -> None:
        for mode, site in sites.items():
            resident[mode].append(rss_mb(site.pid))

    results, differences = paired_rounds(MODES, uploads, args.reps, args.rounds, read_memory)
    body = report(calls, results, differences, resident, args, (load_before, load_average()))
    write_section("memory_release", body)
    print(body)
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
