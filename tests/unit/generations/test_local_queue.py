"""The jobs a process leased for its workers: order, reservations of idle workers, waiting."""

from __future__ import annotations

import threading

from tests.support.waiting import wait_until

from forkable.generations.jobs import ClaimedJob
from forkable.generations.local_queue import LocalQueue


def job(number: int) -> ClaimedJob:
    return ClaimedJob(f"g{number}", "coloringbook", 1, None, f"in/{number}.jpg", 1)


def waiting_worker(local: LocalQueue) -> threading.Thread:
    """A worker thread that waits once, counted idle, until woken."""
    thread = threading.Thread(target=local.wait, args=(10,))
    thread.start()
    wait_until(lambda: local.idle == 1)
    return thread


def test_jobs_come_out_in_the_order_they_were_leased() -> None:
    local = LocalQueue()
    for number in range(3):
        local.put(job(number))
    assert [local.take(), local.take()] == [job(0), job(1)]
    assert local.drain() == [job(2)]
    assert local.take() is None and local.drain() == []


def test_only_an_idle_worker_not_yet_promised_can_be_reserved() -> None:
    local = LocalQueue()
    assert not local.reserve()  # no worker waits
    worker = waiting_worker(local)
    assert local.reserve()
    assert not local.reserve()  # the only idle worker is spoken for
    local.unreserve()
    assert local.reserve()
    local.put(job(1), reserved=True)  # the promise is kept: the worker is woken
    worker.join(5)
    assert not worker.is_alive()
    assert (local.reservations, local.idle, local.take()) == (0, 0, job(1))


def test_one_job_ahead_only_while_every_worker_is_busy_and_none_waits() -> None:
    local = LocalQueue()
    worker = waiting_worker(local)
    assert not local.wants_one_ahead()  # the idle worker claims for itself
    local.wake()
    worker.join(5)
    assert local.wants_one_ahead()
    local.put(job(1))
    assert not local.wants_one_ahead()
    local.take()
    assert local.wants_one_ahead()
