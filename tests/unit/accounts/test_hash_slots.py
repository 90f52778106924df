"""Hashing slots: never more hashes at once than slots, a short wait, a bounded queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from tests.support.hashers import GENEROUS, CountingHasher

from forkable.accounts.hash_slots import MAX_SLOTS, HashSlots, PasswordsBusy, default_slots
from forkable.accounts.passwords import Passwords, fast_passwords


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GENEROUS
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


class Holders:
    """Threads that take a slot and keep it until released."""

    def __init__(self, slots: HashSlots, pool: ThreadPoolExecutor) -> None:
        self.slots = slots
        self.pool = pool
        self.release = threading.Event()
        self.inside = 0
        self.lock = threading.Lock()

    def hold(self) -> Future[str]:
        def run() -> str:
            try:
                with self.slots.slot():
                    with self.lock:
                        self.inside += 1
                    self.release.wait(GENEROUS)
                    with self.lock:
                        self.inside -= 1
            except PasswordsBusy:
                return "busy"
            return "done"

        return self.pool.submit(run)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


def test_default_slots_follow_the_cpus_within_bounds() -> None:
    assert 2 <= default_slots() <= MAX_SLOTS
    assert HashSlots().slots == default_slots()


def test_a_request_without_a_slot_is_refused_after_the_wait(pool: ThreadPoolExecutor) -> None:
    slots = HashSlots(2, wait_seconds=0.05)
    holders = Holders(slots, pool)
    held = [holders.hold(), holders.hold()]
    eventually(lambda: holders.inside == 2)
    with pytest.raises(PasswordsBusy), slots.slot():
        pass
    holders.release.set()
    assert [future.result() for future in held] == ["done", "done"]
    with slots.slot():  # free again
        pass


def test_a_waiting_request_gets_the_slot_that_comes_free(pool: ThreadPoolExecutor) -> None:
    slots = HashSlots(1, wait_seconds=GENEROUS)
    holders = Holders(slots, pool)
    first = holders.hold()
    eventually(lambda: holders.inside == 1)
    second = holders.hold()
    eventually(lambda: slots.waiting == 1)
    assert holders.inside == 1  # never two at once
    holders.release.set()
    assert first.result() == second.result() == "done"


def test_only_a_few_requests_may_wait(pool: ThreadPoolExecutor) -> None:
    slots = HashSlots(1, wait_seconds=GENEROUS, max_waiting=2)
    holders = Holders(slots, pool)
    held = holders.hold()
    eventually(lambda: holders.inside == 1)
    waiting = [holders.hold(), holders.hold()]
    eventually(lambda: slots.waiting == 2)
    # The queue is full: refused at once, without waiting the long wait.
    with pytest.raises(PasswordsBusy), slots.slot():
        pass
    holders.release.set()
    assert [f.result() for f in [held, *waiting]] == ["done", "done", "done"]
    assert slots.waiting == 0


def test_passwords_hash_and_verify_inside_a_slot(pool: ThreadPoolExecutor) -> None:
    hasher = CountingHasher(gated=True)
    passwords = Passwords(hasher, HashSlots(1, wait_seconds=0.05))
    stored = passwords.hash("correct horse battery staple")
    checking = pool.submit(passwords.verify, stored, "correct horse battery staple")
    hasher.wait_running(1)
    with pytest.raises(PasswordsBusy):
        passwords.verify(None, "anything at all")
    with pytest.raises(PasswordsBusy):
        passwords.hash("another passphrase")
    hasher.gate.set()
    assert checking.result() is True
    assert passwords.verify(stored, "wrong passphrase here") is False
    assert passwords.verify(None, "correct horse battery staple") is False
    assert hasher.peak == 1


def test_fast_passwords_take_slots_too() -> None:
    passwords = fast_passwords(HashSlots(3))
    assert passwords.slots.slots == 3
    assert passwords.verify(passwords.hash("a long passphrase"), "a long passphrase")
