"""glibc's memory allocator, set up for image work in a serving process.

Arenas: worker threads decoding 12-megapixel photos would each get an arena of their own, and
glibc keeps their freed memory, so the process grows from one busy minute to the next; two
arenas are enough (as `MALLOC_ARENA_MAX=2`).

Thresholds: a generation allocates and frees arrays of several megabytes many times per photo. By default
glibc gives each block above its mmap threshold a fresh memory mapping and unmaps it on free;
the threshold adapts upward as blocks are freed, but not for every thread's pattern. A fresh
mapping costs a page fault and a zeroed page for every 4 KB touched, and an unmap interrupts
the other cores. Measured in the served flow (benchmarks/bench_generations.py): the filter
ran about 10 ms slower per 1.7-MP photo in most server processes than the same call in a plain
process. Fixed thresholds keep blocks of up to 32 MB (every array of a phone photo up to about 8 MP) stay in the
heap, where the next photo reuses them, larger ones are mapped and returned at once, and the
heap gives memory back once 64 MB are free at its top. Peak memory with four 12-MP photos at
once stays under 500 MB (397 MB, benchmarks/bench_filter.py).

Kept because it is worth more than 5% of a generation: measured on the embedded default
(benchmarks/bench_allocator.py, 2026-12-06), without these settings a generation of a
1600-px photo took 10.4 ms longer (median of 10 paired rounds), 5.6% of its 186 ms wall time,
and 16 ms more CPU.

Free memory given back: with these thresholds glibc keeps what a busy minute freed inside its
heaps (only 64 MB free at a heap's top goes back), so resident memory creeps up in steps each
time more work than ever before is in flight, and stays there. Measured in an hour-long soak
(benchmarks/soak.py, 2026-12-07): 224 -> 233 and 223 -> 237 MB, about 6 KB per generation,
of which `malloc_trim(0)` at the end gave back 15 MB: free heap, not memory in use. So serving
and worker processes hand the free pages back every `RELEASE_EVERY_SECONDS` (10 s:
`release_free_memory`, well under a millisecond); the next
photos reuse the heap's layout and fault in only the pages they touch.

An operator's own `MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` is
left as it is, and other C libraries (musl in Alpine images) are not touched. Called when
`forkable serve` and `forkable worker` start (before any thread) and when an app starts
serving (uvicorn's worker processes, serverless hosts).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
import sys
from collections.abc import Mapping

logger = logging.getLogger(__name__)

# From <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

ARENAS = 2
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
RELEASE_EVERY_SECONDS = 10.0
_THRESHOLD_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def tune_allocator(environ: Mapping[str, str] | None = None) -> list[str]:
    """Cap the arenas and set the thresholds this process's environment leaves open.

    Returns what was set ("arenas", "thresholds"): nothing off glibc or where the operator
    set the matching variables.
    """
    environ = os.environ if environ is None else environ
    libc = _glibc()
    if libc is None:
        return []
    done = []
    if not environ.get("MALLOC_ARENA_MAX") and libc.mallopt(_M_ARENA_MAX, ARENAS) == 1:
        done.append("arenas")
    if not any(name in environ for name in _THRESHOLD_SETTINGS):
        mmap_set = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
        if libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and mmap_set:
            done.append("thresholds")
        else:
            logger.warning("could not set the memory allocator's thresholds")
    return done


def release_free_memory() -> bool:
    """Give the free pages of every heap back to the system (`malloc_trim(0)`).

    Returns False off glibc. Takes each arena's lock while it walks the arena: 0.26 ms at the
    median for a 270 MB heap (benchmarks/bench_memory_release.py).
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None
