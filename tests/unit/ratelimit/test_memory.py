"""Moving windows in memory: counts, waits, sweeping idle keys, and no thread per event."""

from __future__ import annotations

import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest

from forkable.ratelimit import memory
from forkable.ratelimit.limit import Limit
from forkable.ratelimit.memory import MemoryWindows


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_allows_count_events_per_window_then_says_how_long_to_wait(clock: Clock) -> None:
    windows = MemoryWindows(clock)
    for _ in range(3):
        assert windows.hit(Limit("uploads", 3, 60), "u1") is None
        clock.now += 10
    # Events at 1000, 1010 and 1020: the first leaves the window at 1060.
    assert windows.wait(Limit("uploads", 3, 60), "u1") == pytest.approx(30)
    assert windows.hit(Limit("uploads", 3, 60), "u1") == pytest.approx(30)
    clock.now = 1060
    assert windows.wait(Limit("uploads", 3, 60), "u1") is None
    assert windows.hit(Limit("uploads", 3, 60), "u1") is None
    # Now 1010, 1020 and 1060 are in the window; 1010 leaves at 1070.
    assert windows.hit(Limit("uploads", 3, 60), "u1") == pytest.approx(10)


def test_a_refused_event_is_not_counted(clock: Clock) -> None:
    windows = MemoryWindows(clock)
    assert windows.hit(Limit("sync", 1, 3), "p1") is None
    for _ in range(5):
        clock.now += 0.5
        assert windows.hit(Limit("sync", 1, 3), "p1") is not None
    clock.now = 1003
    assert windows.hit(Limit("sync", 1, 3), "p1") is None


def test_wait_counts_nothing_and_keys_and_names_are_apart(clock: Clock) -> None:
    windows = MemoryWindows(clock)
    for _ in range(5):
        assert windows.wait(Limit("login", 1, 900), "a@example.com") is None
    assert windows.hit(Limit("login", 1, 900), "a@example.com") is None
    assert windows.hit(Limit("login", 1, 900), "a@example.com") == pytest.approx(900)
    assert windows.hit(Limit("login", 1, 900), "b@example.com") is None
    assert windows.hit(Limit("signup", 1, 900), "a@example.com") is None


def test_clear_forgets_a_key(clock: Clock) -> None:
    windows = MemoryWindows(clock)
    windows.hit(Limit("login", 1, 900), "ip")
    windows.clear(Limit("login", 1, 900), "ip")
    windows.clear(Limit("login", 1, 900), "never-seen")
    assert windows.hit(Limit("login", 1, 900), "ip") is None


def test_a_lowered_limit_waits_for_enough_events_to_leave(clock: Clock) -> None:
    windows = MemoryWindows(clock)
    for _ in range(4):
        windows.hit(Limit("uploads", 10, 60), "u1")
        clock.now += 1
    # Four events at 1000..1003; with the limit now 2, all but one must leave: 1002 at 1062.
    assert windows.wait(Limit("uploads", 2, 60), "u1") == pytest.approx(1062 - clock.now)


def test_idle_keys_are_swept_while_events_are_counted(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "SWEEP_EVERY", 10)
    windows = MemoryWindows(clock)
    for number in range(9):
        windows.hit(Limit("login", 5, 60), f"ip-{number}")
    clock.now += 61
    assert len(windows) == 9
    windows.hit(Limit("login", 5, 60), "ip-new")  # the tenth event sweeps
    assert len(windows) == 1


def test_concurrent_hits_allow_exactly_the_count_and_start_no_thread(clock: Clock) -> None:
    windows = MemoryWindows(clock)
    threads_before = threading.active_count()
    start = threading.Barrier(16)

    def hit(_: int) -> bool:
        start.wait()
        return windows.hit(Limit("uploads", 7, 60), "u1") is None

    with ThreadPoolExecutor(16) as pool:
        allowed = list(pool.map(hit, range(16)))
        peak = threading.active_count()
    assert allowed.count(True) == 7
    assert peak == threads_before + 16  # the pool's own threads and nothing else


def test_give_back_uncounts_the_newest_event(clock: Clock) -> None:
    windows = MemoryWindows(clock)
    limit = Limit("login", 2, 60)
    assert windows.hit(limit, "ip") is None
    clock.now += 10
    assert windows.hit(limit, "ip") is None
    assert windows.hit(limit, "ip") is not None
    windows.give_back(limit, "ip")  # the event at 1010 did not count after all
    assert windows.wait(limit, "ip") is None
    assert windows.hit(limit, "ip") is None
    # The event at 1000 is still there: it leaves the window at 1060.
    assert windows.hit(limit, "ip") == pytest.approx(50)
    windows.give_back(limit, "never-seen")  # nothing to give back: nothing happens
    assert windows.hit(limit, "never-seen") is None


def test_a_remembered_key_stays_small(clock: Clock) -> None:
    # A known address is remembered for 30 days, one window per account and address: what
    # one takes, times the pairs of a month, is what the embedded limiter holds.
    month = Limit("known-address", 1, 30 * 24 * 60 * 60)
    keys = [f"site:user{n}@example.com:203.0.113.{n % 250}" for n in range(5000)]
    windows = MemoryWindows(clock)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for key in keys:
            assert windows.hit(month, key) is None
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # About 250 bytes (window, its list, the key's tuple, the table's share); a deque would
    # add some 600 more.
    assert grown / len(keys) < 400
