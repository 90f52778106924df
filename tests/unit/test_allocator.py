"""The allocator thresholds are set on glibc, and never over an operator's own; the free heap
goes back to the system when asked."""

from __future__ import annotations

import platform
import subprocess
import sys
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forkable.allocator import tune_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_takes_the_arena_cap_and_the_thresholds() -> None:
    assert tune_allocator({}) == ["arenas", "thresholds"]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
@pytest.mark.parametrize(
    ("name", "left"),
    [
        ("MALLOC_ARENA_MAX", "arenas"),
        ("MALLOC_MMAP_THRESHOLD_", "thresholds"),
        ("MALLOC_TRIM_THRESHOLD_", "thresholds"),
    ],
)
def test_an_operators_own_setting_is_left_alone(name: str, left: str) -> None:
    assert left not in tune_allocator({name: "2"})


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_image_buffers_are_reused_rather_than_mapped_again() -> None:
    # Page faults of a loop that allocates, fills and frees 8-MB buffers of varying size in
    # a thread (as a worker does): each fresh mapping faults in every page again.
    script = """
import resource, sys, threading
import numpy as np
from forkable.allocator import tune_allocator
if sys.argv[1] == "tuned":
    tune_allocator({})
def work():
    for i in range(200):
        a = np.ones((1000 + i % 7, 1000, 3), dtype=np.uint8)
        b = a.astype(np.float32)
        c = (b * 0.5).astype(np.uint8)
        del a, b, c
thread = threading.Thread(target=work)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
thread.start(); thread.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

    def faults(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", script, mode], capture_output=True, text=True, check=True
        )
        return int(run.stdout)

    assert faults("tuned") * 10 < faults("default")  # about 4,000 against 500,000 here


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_free_memory_between_blocks_in_use_goes_back_to_the_system() -> None:
    # With the tuned thresholds 4-MB blocks live in the heap; freeing every other one leaves
    # 100 MB free between blocks still in use, which the heap's own trimming (free memory at
    # its top) never returns.
    script = """
from forkable.allocator import release_free_memory, tune_allocator
tune_allocator({})
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
blocks = [bytearray(4 << 20) for _ in range(50)]
del blocks[::2]
before = rss()
release_free_memory()
print(before - rss())
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(run.stdout) > 80 * 2**20


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_a_serving_app_gives_free_memory_back_while_it_runs(app: FastAPI) -> None:
    def releasing() -> bool:
        return any(t.name == "forkable-memory-release" for t in threading.enumerate())

    with TestClient(app):
        assert releasing()
    assert not releasing()
