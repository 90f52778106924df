"""What giving free heap back costs: one `forkable.allocator.release_free_memory` call
(`malloc_trim(0)`), as serving processes make it once a minute.

Usage: .venv/bin/python benchmarks/bench_memory_release.py [--megabytes 270] [--rounds 15]
Prints the median and the worst call.

The heap is shaped like a serving process's after a busy minute: blocks of 4 KB to 2 MB
(request bodies, encoded and decoded images) kept alive, one in twelve freed in between, and
each round frees a further one in twenty-four after refilling them, so every call finds new
free pages to hand back.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from common import machine, today

from forkable.allocator import release_free_memory, tune_allocator

SIZES = (4096, 65536, 262144, 1 << 20, 2 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=270, help="heap to build")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    tune_allocator({})
    pick = random.Random(16)
    blocks: list[bytearray | None] = []
    while sum(len(b) for b in blocks if b is not None) < args.megabytes << 20:
        blocks.append(bytearray(pick.choice(SIZES)))
    for i in range(0, len(blocks), 12):
        blocks[i] = None
    took = []
    for _ in range(args.rounds):
        for i in range(0, len(blocks), 24):
            blocks[i] = bytearray(pick.choice(SIZES[:-1]))
        for i in range(0, len(blocks), 24):
            blocks[i] = None
        start = time.perf_counter()
        release_free_memory()
        took.append((time.perf_counter() - start) * 1000)
    print(f"{today()}: {machine()}")
    print(
        f"heap {args.megabytes} MB: release_free_memory median {statistics.median(took):.2f} ms, "
        f"worst {max(took):.2f} ms over {args.rounds} calls"
    )


if __name__ == "__main__":
    main()
