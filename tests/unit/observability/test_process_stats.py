"""Reading the process's CPU, memory and files, and the memory limit of its container."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from forkable.observability import process_stats
from forkable.observability.process_stats import GcPauses, host_memory_limit

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

MEMINFO = "MemTotal:       16384000 kB\nMemFree:         1000 kB\n"


@linux
def test_this_process_reads_as_itself() -> None:
    memory = process_stats.resident_bytes()
    assert memory is not None and 10_000_000 < memory < 10_000_000_000
    files = process_stats.open_fds()
    limit = process_stats.max_fds()
    assert files is not None and files >= 3  # standard input, output and error at least
    assert limit is None or limit >= files
    assert process_stats.cpu_seconds() > 0
    host = host_memory_limit()
    assert host is not None and host > memory


def test_without_proc_the_readings_are_absent(tmp_path: Path) -> None:
    assert process_stats.resident_bytes(tmp_path) is None
    assert process_stats.open_fds(tmp_path) is None
    assert host_memory_limit(tmp_path, tmp_path, tmp_path / "meminfo") is None


def _machine(tmp_path: Path, cgroup: str, files: dict[str, str]) -> tuple[Path, Path, Path]:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(MEMINFO)
    return proc, root, meminfo


def test_cgroup_v2_limit_of_the_process_or_a_parent(tmp_path: Path) -> None:
    proc, root, meminfo = _machine(
        tmp_path,
        "0::/app/web\n",
        {"app/web/memory.max": "max\n", "app/memory.max": "2147483648\n"},
    )
    assert host_memory_limit(proc, root, meminfo) == 2 * 1024**3


def test_cgroup_v2_without_a_limit_is_the_machine(tmp_path: Path) -> None:
    proc, root, meminfo = _machine(tmp_path, "0::/\n", {"memory.max": "max\n"})
    assert host_memory_limit(proc, root, meminfo) == 16384000 * 1024


def test_cgroup_v1_limit_and_its_unlimited_number(tmp_path: Path) -> None:
    proc, root, meminfo = _machine(
        tmp_path,
        "4:memory:/docker/abc\n1:cpu:/\n",
        {"memory/memory.limit_in_bytes": "1073741824\n"},
    )
    assert host_memory_limit(proc, root, meminfo) == 1024**3
    (root / "memory/memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert host_memory_limit(proc, root, meminfo) == 16384000 * 1024


def test_a_limit_above_the_machine_is_the_machine(tmp_path: Path) -> None:
    proc, root, meminfo = _machine(tmp_path, "0::/big\n", {"big/memory.max": str(1 << 50)})
    assert host_memory_limit(proc, root, meminfo) == 16384000 * 1024


def test_gc_pauses_are_counted_while_started() -> None:
    pauses = GcPauses((0.001, 1.0))
    gc.collect()
    assert pauses.totals[0] == 0
    pauses.start()
    try:
        gc.collect()
        gc.collect()
    finally:
        pauses.stop()
    count, total, *buckets = pauses.totals
    assert count >= 2
    assert total > 0
    assert sum(buckets) == count
    gc.collect()
    assert pauses.totals[0] == count  # stopped: the hook is gone


def test_sqlite_memory_counts_the_page_cache_of_open_connections(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "cache.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x TEXT)")
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(1000)])
    before = process_stats.sqlite_memory_bytes()
    assert before is not None
    readers = [sqlite3.connect(path) for _ in range(2)]
    try:
        for reader in readers:
            reader.execute("SELECT SUM(LENGTH(x)) FROM t").fetchone()
        # About 1 MB of pages in each connection's own cache.
        reading = process_stats.sqlite_memory_bytes()
        assert reading is not None and reading - before > 2 * 900_000
    finally:
        for reader in readers:
            reader.close()
    after = process_stats.sqlite_memory_bytes()
    assert after is not None and after < reading - 2 * 900_000
