"""Leaves glibc's allocator at its defaults in every Python process started with this folder on
PYTHONPATH (bench_allocator.py's "untuned" servers).

`forkable.allocator.tune_allocator` leaves alone what an operator set: `MALLOC_ARENA_MAX` and
the threshold variables. Set here, after glibc read its environment at start-up, they change
nothing in glibc itself; they only make `tune_allocator` skip its `mallopt` calls, so the process
keeps glibc's own defaults (arenas by core count, a dynamic mmap threshold).
"""

import os

os.environ["MALLOC_ARENA_MAX"] = "glibc default"
os.environ["MALLOC_MMAP_THRESHOLD_"] = "glibc default"
