"""StatusWaits on its own: caps, wake-ups from other threads, the watcher, nothing lost."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection

import pytest

from forkable.db.events import LedgerBooked, StatusChanged
from forkable.generations.waits import StatusWaits, TooManyWaits, WaitLimits


def _statuses(table: dict[str, str]) -> StatusWaits:
    def read(ids: Collection[str]) -> dict[str, str]:
        return {
            generation_id: table[generation_id] for generation_id in ids if generation_id in table
        }

    return StatusWaits(read, WaitLimits(per_user=2, total=3, watch_seconds=0.02))


def test_a_commit_on_another_thread_wakes_the_waiter() -> None:
    waits = _statuses({})

    async def scenario() -> bool:
        with waits.waiting("site:1", "g1") as waiter:
            waiter.rearm()
            waiter.saw("running")
            committer = threading.Timer(
                0.05, waits.record_facts, [[StatusChanged("g1", "succeeded")]]
            )
            committer.start()
            return await waiter.changed(5.0)

    assert asyncio.run(scenario()) is True
    assert waits.open_count == 0


def test_a_change_between_the_read_and_the_wait_is_not_lost() -> None:
    waits = _statuses({})

    async def scenario() -> bool:
        with waits.waiting("site:1", "g1") as waiter:
            waiter.rearm()  # then the row is read, and meanwhile the job ends:
            waits.record_facts([StatusChanged("g1", "succeeded")])
            return await waiter.changed(0.01)

    assert asyncio.run(scenario()) is True


def test_other_generations_and_other_facts_do_not_wake() -> None:
    waits = _statuses({})

    async def scenario() -> bool:
        with waits.waiting("site:1", "g1") as waiter:
            waiter.rearm()
            waits.record_facts([StatusChanged("g2", "succeeded")])
            waits.record_facts([LedgerBooked("site", "purchase", 10, 0)])
            return await waiter.changed(0.05)

    assert asyncio.run(scenario()) is False


def test_a_claim_wakes_only_waiters_that_follow_the_queue() -> None:
    waits = _statuses({"g1": "queued", "g2": "queued"})

    async def scenario() -> tuple[bool, bool]:
        with (
            waits.waiting("site:1", "g1", follows_queue=True) as follower,
            waits.waiting("site:2", "g2") as plain,
        ):
            for waiter in (follower, plain):
                waiter.rearm()
                waiter.saw("queued")
            waits.record_facts([StatusChanged("g0", "running")])
            return await follower.changed(0.05), await plain.changed(0.05)

    assert asyncio.run(scenario()) == (True, False)


def test_waits_are_capped_per_user_and_in_total() -> None:
    waits = _statuses({})

    async def scenario() -> None:
        with waits.waiting("site:1", "g1"), waits.waiting("site:1", "g2"):
            with pytest.raises(TooManyWaits) as mine, waits.waiting("site:1", "g3"):
                pass
            assert mine.value.scope == "user"
            with waits.waiting("site:2", "g4"):
                with pytest.raises(TooManyWaits) as everyone, waits.waiting("site:3", "g5"):
                    pass
                assert everyone.value.scope == "total"
        assert waits.open_count == 0
        with waits.waiting("site:1", "g1"), waits.waiting("site:1", "g1"):
            pass  # freed on the way out: the same user may wait again

    asyncio.run(scenario())


def test_the_watcher_wakes_waiters_whose_status_moved_elsewhere() -> None:
    table = {"g1": "running", "g2": "running"}
    waits = _statuses(table)

    async def scenario() -> tuple[bool, bool]:
        with waits.waiting("site:1", "g1") as moved, waits.waiting("site:2", "g2") as still:
            for waiter in (moved, still):
                waiter.rearm()
                waiter.saw("running")
            table["g1"] = "succeeded"  # committed by another process: no fact here
            return await moved.changed(2.0), await still.changed(0.1)

    assert asyncio.run(scenario()) == (True, False)


def test_the_watcher_wakes_a_waiter_whose_image_was_deleted() -> None:
    table = {"g1": "running"}
    waits = _statuses(table)

    async def scenario() -> bool:
        with waits.waiting("site:1", "g1") as waiter:
            waiter.rearm()
            waiter.saw("running")
            del table["g1"]
            return await waiter.changed(2.0)

    assert asyncio.run(scenario()) is True


def test_the_watcher_stops_when_nothing_waits() -> None:
    reads: list[int] = []

    def read(ids: Collection[str]) -> dict[str, str]:
        reads.append(len(ids))
        return dict.fromkeys(ids, "running")

    waits = StatusWaits(read, WaitLimits(watch_seconds=0.01))

    async def scenario() -> None:
        with waits.waiting("site:1", "g1") as waiter:
            waiter.saw("running")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.05)
        count = len(reads)
        await asyncio.sleep(0.1)
        assert len(reads) == count  # nothing waits: no more reads

    asyncio.run(scenario())
    assert reads and set(reads) == {1}
