"""What this process uses of the machine, read from /proc and the cgroup files (Linux).

psutil would do the same for many systems; forkable runs on Linux, so it reads the few files
it needs itself. Elsewhere each reading that has no portable source answers None and its
metric is left out; CPU time and the file limit come from the standard library everywhere.
Every reading is a handful of small file reads, cheap enough for each scrape.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import sys
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from pathlib import Path

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

PROC_SELF = Path("/proc/self")
CGROUP_ROOT = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")
# cgroup v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages, rounded).
_V1_UNLIMITED = 1 << 60


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (every thread), since it started."""
    times = os.times()
    return times.user + times.system


def resident_bytes(proc: Path = PROC_SELF) -> int | None:
    """Resident set size now (``statm``'s second field, in pages)."""
    try:
        fields = (proc / "statm").read_text().split()
        return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return None


def open_fds(proc: Path = PROC_SELF) -> int | None:
    """File descriptors open now."""
    try:
        return len(os.listdir(proc / "fd"))
    except OSError:
        return None


def sqlite_memory_bytes() -> int | None:
    """Heap that SQLite holds in this process now: page caches, schemas, compiled statements.

    ``sqlite3_memory_used()`` of the library Python's ``sqlite3`` module runs on. None when the
    process has not loaded that module (it does not use SQLite) or the library does not export
    the call.
    """
    memory_used = _sqlite_memory_used()
    return None if memory_used is None else int(memory_used())


@functools.cache
def _sqlite_memory_used() -> Callable[[], int] | None:
    module = sys.modules.get("_sqlite3")
    path = getattr(module, "__file__", None)
    if path is None:
        return None
    try:
        # The extension's own handle: its symbol lookup covers the libsqlite3 it was linked
        # against (or the copy built into it), the instance whose allocations count here.
        memory_used = ctypes.CDLL(path).sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    memory_used.argtypes = []
    memory_used.restype = ctypes.c_int64
    return memory_used


def max_fds() -> int | None:
    """The soft limit on open file descriptors (what `open` runs into)."""
    if resource is None:  # pragma: no cover - Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def host_memory_limit(
    proc: Path = PROC_SELF, cgroup_root: Path = CGROUP_ROOT, meminfo: Path = MEMINFO
) -> int | None:
    """The memory this process's container may use: the smallest cgroup limit on its path
    (v2 ``memory.max``, v1 ``memory.limit_in_bytes``), else the machine's ``MemTotal``."""
    total = _mem_total(meminfo)
    limit = _cgroup_limit(proc, cgroup_root)
    if limit is None:
        return total
    return limit if total is None else min(limit, total)


def _mem_total(meminfo: Path) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, IndexError, ValueError):
        return None
    return None


def _cgroup_limit(proc: Path, root: Path) -> int | None:
    try:
        lines = (proc / "cgroup").read_text().splitlines()
    except OSError:
        return None
    limits: list[int] = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            limits += _limits_along(root, path, "memory.max")
        elif "memory" in controllers.split(","):
            limits += _limits_along(root / "memory", path, "memory.limit_in_bytes")
    return min(limits) if limits else None


def _limits_along(base: Path, path: str, name: str) -> list[int]:
    """The limits in ``name`` from the cgroup at ``path`` up to the root of ``base``.

    In a container the cgroup path may not exist under the mounted root (the container sees
    its own cgroup as the root), so the root's file counts too.
    """
    parts = [part for part in path.strip("/").split("/") if part]
    found = []
    for depth in range(len(parts), -1, -1):
        value = _read_limit(base.joinpath(*parts[:depth]) / name)
        if value is not None:
            found.append(value)
    return found


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _V1_UNLIMITED else value


class GcPauses:
    """Garbage-collector runs and their pauses, counted from `gc.callbacks`.

    The callback runs inside whatever allocation set the collector off, possibly while that
    thread holds a prometheus-client lock, so it only adds to plain lists here; `Metrics`
    moves the news into the histogram when it refreshes.
    """

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        # [count, sum of seconds, count per bucket..., +Inf bucket], since start()
        self.totals: list[float] = [0] * (len(self.bounds) + 3)
        self._started: float | None = None
        self._lock = threading.Lock()
        self._installed = False

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        started, self._started = self._started, None
        if started is None:
            return
        seconds = time.perf_counter() - started
        totals = self.totals
        totals[0] += 1
        totals[1] += seconds
        totals[bisect_left(self.bounds, seconds) + 2] += 1

    def start(self) -> None:
        with self._lock:
            if not self._installed:
                gc.callbacks.append(self._callback)
                self._installed = True

    def stop(self) -> None:
        with self._lock:
            if self._installed:
                gc.callbacks.remove(self._callback)
                self._installed = False


def gc_collections() -> list[int]:
    """Collections run so far, per generation (0, 1, 2)."""
    return [int(stats.get("collections", 0)) for stats in gc.get_stats()]
