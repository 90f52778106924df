"""The queue path on a real PostgreSQL: messages commit with their rows, a worker claims each
generation once whatever the queue delivers, and the sweep recovers what a dead worker left."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from tests.integration.workers.conftest import MakeUser, submit, waiting_messages
from tests.support.waiting import wait_until

from forkable.db.types import utcnow
from forkable.generations import jobs
from forkable.generations.models import Generation, HoldState, Status
from forkable.generations.verify import verify_all
from forkable.services import Services
from forkable.workers.process import QueueWorker

pytestmark = pytest.mark.postgres


def _row(web: Services, generation_id: str) -> Generation:
    with web.database.session() as session:
        row = session.scalar(select(Generation).where(Generation.id == generation_id))
    assert row is not None
    return row


def _verified(web: Services) -> None:
    with web.database.session() as session:
        assert verify_all(session) == []


@contextmanager
def _running(worker: QueueWorker) -> Iterator[None]:
    """The worker's whole loop (Procrastinate's fetching, LISTEN/NOTIFY, periodic tasks) in a
    thread of its own, stopped as SIGTERM would stop it."""
    loop = asyncio.new_event_loop()
    task: asyncio.Task[None] | None = None
    started = threading.Event()

    def run() -> None:
        nonlocal task
        asyncio.set_event_loop(loop)
        task = loop.create_task(worker.run_async())
        started.set()
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        yield
    finally:
        assert task is not None
        loop.call_soon_threadsafe(task.cancel)
        thread.join(30)
        assert not thread.is_alive()


def test_the_message_commits_with_the_row_and_only_once(web: Services, make_user: MakeUser) -> None:
    user = make_user(3)
    generation_id = submit(web, user)
    assert waiting_messages(web, generation_id) == 1

    with web.database.transaction() as session:  # a sweep announcing it again
        web.announcer.announce(session, generation_id)
        # The savepoint kept the transaction usable after the duplicate was refused.
        assert session.execute(text("SELECT 1")).scalar_one() == 1
    assert waiting_messages(web, generation_id) == 1


def test_a_message_announced_in_a_rolled_back_transaction_never_exists(
    web: Services, make_user: MakeUser
) -> None:
    with pytest.raises(RuntimeError), web.database.transaction() as session:
        web.announcer.announce(session, "not-committed")
        raise RuntimeError("the submit failed after announcing")
    assert waiting_messages(web, "not-committed") == 0


def test_a_worker_runs_the_generations_of_the_web(
    web: Services, worker: QueueWorker, make_user: MakeUser
) -> None:
    user = make_user(5)
    ids = [submit(web, user) for _ in range(4)]
    with _running(worker):
        wait_until(lambda: all(_row(web, i).status == Status.SUCCEEDED for i in ids), timeout=30)
    assert [(r.attempts, r.hold_state) for r in (_row(web, i) for i in ids)] == [
        (1, HoldState.CAPTURED)
    ] * 4
    assert all(waiting_messages(web, i) == 0 for i in ids)
    _verified(web)


def test_a_job_delivered_twice_runs_once(
    web: Services, worker: QueueWorker, make_user: MakeUser
) -> None:
    user = make_user(3)
    generation_id = submit(web, user)

    async def twice() -> list[str]:
        return list(
            await asyncio.gather(
                worker.run_generation(generation_id), worker.run_generation(generation_id)
            )
        )

    outcomes = asyncio.run(twice())

    assert sorted(outcomes) == ["not queued", "succeeded"]
    row = _row(web, generation_id)
    assert (row.status, row.attempts, row.hold_state) == (Status.SUCCEEDED, 1, HoldState.CAPTURED)
    # A third delivery, long after: still nothing to do, nothing charged again.
    assert asyncio.run(worker.run_generation(generation_id)) == "not queued"
    _verified(web)


def test_a_message_for_a_deleted_generation_does_nothing(
    web: Services, worker: QueueWorker, make_user: MakeUser
) -> None:
    user = make_user(3)
    generation_id = submit(web, user)
    with web.database.transaction() as session:  # the row gone (an erased account's, say)
        session.execute(
            update(Generation).where(Generation.id == generation_id).values(deleted_at=utcnow())
        )

    assert asyncio.run(worker.run_generation(generation_id)) == "not queued"
    assert _row(web, generation_id).status == Status.QUEUED  # untouched, its hold still open


def test_a_worker_that_died_between_claim_and_capture_is_replaced(
    web: Services, worker: QueueWorker, make_user: MakeUser
) -> None:
    user = make_user(3)
    generation_id = submit(web, user)
    # A worker claimed it, then died: its lease will expire, nobody renews it.
    dead = jobs.claim_next(
        web.database, owner="dead-worker", lease_seconds=0.2, generation_id=generation_id
    )
    assert dead is not None
    wait_until(lambda: _row(web, generation_id).lease_expires_at < utcnow())  # type: ignore[operator]

    report = worker.maintenance.sweep()

    assert report.requeued == 1
    assert waiting_messages(web, generation_id) == 1  # announced again with the requeue
    with _running(worker):
        wait_until(lambda: _row(web, generation_id).status == Status.SUCCEEDED, timeout=30)
    # The dead worker's late capture changes nothing: its lease is gone.
    assert not jobs.fail(web.database, generation_id, owner="dead-worker", reason="internal")
    row = _row(web, generation_id)
    assert (row.attempts, row.hold_state) == (2, HoldState.CAPTURED)
    _verified(web)


def test_the_sweep_announces_a_queued_row_whose_message_was_lost(
    web: Services, worker: QueueWorker, make_user: MakeUser
) -> None:
    user = make_user(3)
    generation_id = submit(web, user)
    with web.database.transaction() as session:
        session.execute(text("DELETE FROM procrastinate_jobs"))  # the message lost
        session.execute(
            update(Generation)
            .where(Generation.id == generation_id)
            .values(created_at=utcnow() - timedelta(minutes=5))
        )

    report = worker.maintenance.sweep()

    assert report.announced == 1
    assert waiting_messages(web, generation_id) == 1
    with _running(worker):
        wait_until(lambda: _row(web, generation_id).status == Status.SUCCEEDED, timeout=30)
    _verified(web)
