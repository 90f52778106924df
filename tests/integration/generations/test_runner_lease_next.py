"""The runner between jobs: the finisher leases the next job ahead for the busy workers,
stopping gives it back, and memory goes back to the system once the work is done."""

from __future__ import annotations

from sqlalchemy import event
from tests.integration.generations.conftest import (
    MakeUser,
    generation_rows,
    one_worker_runner,
    queue_generations,
)
from tests.support.waiting import wait_until

from forkable.generations.models import Status
from forkable.generations.verify import verify_all
from forkable.services import Services


def test_one_job_is_leased_ahead_and_a_worker_starts_it(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(5)
    first, second = queue_generations(services, user, 2)
    runner = one_worker_runner(services)  # not started: its one worker counts as busy

    leased = runner.lease_next()
    assert leased is not None and leased.id == first
    assert runner.lease_next() is None  # one job waits for a worker at most
    assert [(g.status, g.attempts) for g in generation_rows(services, [first, second])] == [
        (Status.RUNNING, 1),
        (Status.QUEUED, 0),
    ]

    runner.start()
    try:
        wait_until(
            lambda: all(
                g.status == Status.SUCCEEDED for g in generation_rows(services, [first, second])
            )
        )
    finally:
        runner.stop()
    # The worker took the leased job as it was handed over, without claiming it again.
    assert [g.attempts for g in generation_rows(services, [first, second])] == [1, 1]
    with services.database.session() as session:
        assert verify_all(session) == []


def test_nothing_is_leased_ahead_while_a_worker_waits_for_work(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(5)
    runner = one_worker_runner(services, poll_seconds=30)
    runner.start()
    try:
        wait_until(lambda: runner.idle_workers == 1)
        (generation_id,) = queue_generations(services, user, 1)  # queued without waking the worker
        assert runner.lease_next() is None
        assert generation_rows(services, [generation_id])[0].status == Status.QUEUED
        runner.notify()
        wait_until(lambda: generation_rows(services, [generation_id])[0].status == Status.SUCCEEDED)
    finally:
        runner.stop()


def test_stopping_puts_a_job_leased_ahead_back_in_the_queue(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(5)
    (generation_id,) = queue_generations(services, user, 1)
    runner = one_worker_runner(services)
    assert runner.lease_next() is not None
    runner.stop()

    (row,) = generation_rows(services, [generation_id])
    assert (row.status, row.attempts, row.lease_owner, row.started_at) == (
        Status.QUEUED,
        0,
        None,
        None,
    )
    later = one_worker_runner(services)
    later.start()
    try:
        wait_until(lambda: generation_rows(services, [generation_id])[0].status == Status.SUCCEEDED)
    finally:
        later.stop()
    assert generation_rows(services, [generation_id])[0].attempts == 1
    with services.database.session() as session:
        assert verify_all(session) == []


def test_memory_is_given_back_once_after_the_work_is_done(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(5)
    calls: list[float] = []
    # The keeper looks every 0.1 s; its looks are counted by the reaper's query they run.
    runner = one_worker_runner(
        services, lease_seconds=0.3, give_back_memory=lambda: calls.append(1)
    )
    looks = _KeeperLooks(services)
    runner.start()
    try:
        wait_until(lambda: looks.count >= 3)
        assert calls == []  # nothing was done, so there is nothing to give back
        ids = queue_generations(services, user, 2)
        runner.notify()
        wait_until(
            lambda: all(g.status == Status.SUCCEEDED for g in generation_rows(services, ids))
        )
        wait_until(lambda: calls == [1])
        after = looks.count
        wait_until(lambda: looks.count >= after + 3)
        assert calls == [1]  # once per stretch of work, not at every look while idle
    finally:
        runner.stop()
        looks.close()


class _KeeperLooks:
    """Counts the reaper's queries for expired leases on the services' database."""

    def __init__(self, services: Services) -> None:
        self.engine = services.database.engine
        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().startswith("SELECT") and "lease_expires_at <" in statement:
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)
