"""What `forkable.allocator.tune_allocator` is worth: the flow's latency with and without it.

Usage: .venv/bin/python benchmarks/bench_allocator.py [--reps 4] [--rounds 6]
Writes its section of docs/benchmarks.md.

Each round starts two fresh `forkable serve` processes on copies of the example site (SQLite,
local filter), one as shipped and one with glibc's allocator left at its defaults, side by side,
and runs one generation at a time, on each in turn, every generation paired with the filter
alone in this process (bench_generations.py's latency pairs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench_generations import (
    SITE_SETTINGS,
    WORKERS,
    Pair,
    Site,
    Upload,
    direct_filter,
    make_uploads,
    measure_poll_cpu,
    one_pair,
    sequential_pairs,
)
from common import load_average, machine, today, write_section
from flow import PHOTOS, ApiUser, grant, served_site

# On PYTHONPATH, its sitecustomize makes tune_allocator leave glibc at its defaults.
UNTUNED = Path(__file__).resolve().parent / "untuned_allocator"
MODES = ("tuned (as shipped)", "glibc defaults")
RULE = 0.05  # keep an optimisation worth more than 5% of a generation's wall time


def with_sitecustomize(folder: Path) -> dict[str, str]:
    """The environment of a server that runs ``folder``'s sitecustomize at start-up."""
    # The server's own modules come from this same PYTHONPATH (the worktree's src, if set).
    inherited = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{folder}:{inherited}" if inherited else str(folder)}


ALLOCATOR_MODES = {MODES[0]: {}, MODES[1]: with_sitecustomize(UNTUNED)}


@contextmanager
def started(
    folder: Path, env: Mapping[str, str], uploads: list[Upload], reps: int
) -> Iterator[Site]:
    """A fresh server started with ``env`` and a signed-up user, warmed up."""
    served = served_site(folder, workers=WORKERS, settings=SITE_SETTINGS, env=env)
    with served as (server, data):
        user = ApiUser(server.url, "bench@example.com")
        grant(data, user.email, 2 + len(uploads) * reps)
        site = Site(user, server.process.pid)
        warm = sequential_pairs(site, uploads[:2], 1)  # imports, caches, first file writes
        site.poll_cpu = measure_poll_cpu(site, warm[0].flow.id, count=50)
        try:
            yield site
        finally:
            user.close()


def run_round(
    folder: Path,
    modes: Mapping[str, Mapping[str, str]],
    uploads: list[Upload],
    reps: int,
    number: int,
    after_each: Callable[[Mapping[str, Site]], None] | None = None,
) -> dict[str, list[Pair]]:
    """Both servers (``modes``: name -> environment) up at once; each photo goes to one then
    the other, the first alternating, so that the machine's drift falls on both alike.
    ``after_each`` looks at both servers after each photo."""
    names = list(modes)
    pairs: dict[str, list[Pair]] = {mode: [] for mode in names}
    with ExitStack() as stack:
        sites = {
            mode: stack.enter_context(started(folder / str(i), env, uploads, reps))
            for i, (mode, env) in enumerate(modes.items())
        }
        turn = 0
        for _ in range(reps):
            for upload in uploads:
                order = names if turn % 2 == 0 else names[::-1]
                turn += 1
                for mode in order:
                    pairs[mode].append(one_pair(sites[mode], upload, number))
                if after_each is not None:
                    after_each(sites)
    return pairs


def paired_rounds(
    modes: Mapping[str, Mapping[str, str]],
    uploads: list[Upload],
    reps: int,
    rounds: int,
    after_each: Callable[[Mapping[str, Site]], None] | None = None,
) -> tuple[dict[str, list[Pair]], list[float]]:
    """Every round's pairs by mode, and per round the second mode's median overhead minus
    the first's."""
    first, second = modes
    results: dict[str, list[Pair]] = {mode: [] for mode in modes}
    gains: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(rounds):
            pairs = run_round(
                Path(tmp) / f"round-{number}", modes, uploads, reps, number, after_each
            )
            mine = {mode: median_ms([p.overhead for p in pairs[mode]]) for mode in modes}
            for mode in modes:
                results[mode] += pairs[mode]
            gains.append(mine[second] - mine[first])
            print(f"round {number + 1} overheads ms: {mine}", flush=True)
    return results, gains


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def report(
    results: dict[str, list[Pair]],
    gains: list[float],
    args: argparse.Namespace,
    load: tuple[float, float],
) -> tuple[str, float, float]:
    tuned, untuned = (results[mode] for mode in MODES)
    latency = median_ms([p.flow.latency for p in tuned])
    gain = statistics.median(gains)
    share = gain / latency
    rows = []
    shares = []
    for name in PHOTOS:
        mine = {mode: [p for p in pairs if p.name == name] for mode, pairs in results.items()}
        by_photo = {
            mode: [
                median_ms([p.filter.wall for p in pairs]),
                median_ms([p.flow.latency for p in pairs]),
                median_ms([p.overhead for p in pairs]),
                1000 * statistics.fmean(p.cpu_overhead for p in pairs),
            ]
            for mode, pairs in mine.items()
        }
        t, u = by_photo[MODES[0]], by_photo[MODES[1]]
        shares.append((gain / t[1], name, t[1]))
        rows.append(
            f"| {name} | {t[0]:.1f} | {u[0]:.1f} | {t[1]:.1f} | {u[1]:.1f} | {t[2]:.1f} | "
            f"{u[2]:.1f} | {u[2] - t[2]:+.1f} | {t[3]:.1f} | {u[3]:.1f} |"
        )
    low, high = min(shares), max(shares)
    cpu_gain = 1000 * (
        statistics.fmean(p.cpu_overhead for p in untuned)
        - statistics.fmean(p.cpu_overhead for p in tuned)
    )
    cpu_share = cpu_gain / latency
    verdict = "worth keeping" if share > RULE else "**not** worth keeping"
    if (share > RULE) == (cpu_share > RULE):
        agree = ", and by CPU time too"
    else:
        agree = f"; by CPU time the other way, so the {RULE:.0%} line is within this run's noise"
    body = f"""## The allocator tuning (`forkable.allocator`)

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_allocator.py --reps {args.reps} --rounds {args.rounds}`.

`tune_allocator` (two arenas, 32 MB mmap threshold, 64 MB trim threshold, set with `mallopt` when
`forkable serve` starts) against glibc's defaults (arenas by core count, a dynamic mmap
threshold). Each of the {args.rounds} rounds starts two fresh `forkable serve` processes on copies of
`examples/coloringbook` (`generations_per_minute` raised to 600, `FORKABLE_WORKERS={WORKERS}`, SQLite,
local filter), one as shipped and one whose `tune_allocator` finds `MALLOC_ARENA_MAX` and
`MALLOC_MMAP_THRESHOLD_` set (by a `sitecustomize` on its PYTHONPATH, after glibc has read its
environment, so glibc keeps its defaults and the function leaves them: checked with a 16 MB
block, mapped on the first allocation and kept in the heap after a free, as glibc's dynamic
threshold does). Both run side by side; {args.reps} times each of the four 1600-px photos of
bench_generations.py goes to one server and then to the other (which first alternating), one
generation at a time, each paired with the filter alone in the benchmark process just before
and after it; overhead = latency from upload to
`finished_at` minus that. CPU overhead: the server's user+system time over the generation
(polls taken out) minus the filter's CPU in the benchmark process. One-minute load average
{load[0]:.1f} before the run and {load[1]:.1f} after it (2 cores: other jobs were running).

Medians per photo (T: tuned, as shipped; G: glibc defaults); the filter alone is the
benchmark process's, paired with the server's generation it brackets.

| photo | filter alone ms (T) | filter alone ms (G) | latency ms (T) | latency ms (G) | overhead ms (T) | overhead ms (G) | G - T ms | mean CPU overhead ms (T) | mean CPU overhead ms (G) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Per round, overhead of the glibc-defaults server minus that of the tuned one (medians):
{", ".join(f"{g:+.1f}" for g in gains)} ms.

**The tuning saves {gain:.1f} ms per generation, {share:.1%} of a generation's median wall
time** ({latency:.0f} ms from upload to result on the tuned servers, all photos; median of the
per-round differences); against each photo's own wall time, from {low[0]:.1%} ({low[1]},
{low[2]:.0f} ms) to {high[0]:.1%} ({high[1]}, {high[2]:.0f} ms). In CPU time, which other jobs on the machine change less, the servers without it
spent {cpu_gain:+.1f} ms more per generation ({cpu_share:.1%} of the wall time).

Rule: keep an optimisation only where it is worth more than {RULE:.0%} of a generation's wall
time on the embedded default. By wall time: {verdict}{agree}.
"""
    return body, gain, share


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    started = time.monotonic()
    load_before = load_average()
    uploads = make_uploads()
    direct_filter(uploads[0].image)  # warm up OpenCV and numpy
    results, gains = paired_rounds(ALLOCATOR_MODES, uploads, args.reps, args.rounds)
    body, _, _ = report(results, gains, args, (load_before, load_average()))
    write_section("allocator", body)
    print(body)
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
