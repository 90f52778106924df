"""The job's one path, make -> store -> finish: stopping waits for it, a failed store fails it."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select
from tests.integration.generations.conftest import (
    MakeUser,
    generation_rows,
    one_worker_runner,
    queue_generations,
)
from tests.support.waiting import wait_until

from forkable.generations.models import Generation, HoldState, Status
from forkable.generations.verify import verify_all
from forkable.services import Services
from forkable.storage import LocalMediaStore


class GatedStore(LocalMediaStore):
    """The media folder, but storing a result waits until the test opens the gate."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if "-result-" in key:
            self.waiting.set()
            assert self.gate.wait(10)
        super().put(key, data, content_type)


def _statuses(services: Services, ids: list[str]) -> list[tuple[Status, int]]:
    return [(g.status, g.attempts) for g in generation_rows(services, ids)]


def test_stopping_lets_the_job_in_progress_finish(services: Services, make_user: MakeUser) -> None:
    user = make_user(3)
    (generation_id,) = queue_generations(services, user, 1)
    store = GatedStore(Path(services.settings.media_dir))
    runner = one_worker_runner(services, store=store)
    runner.start()
    assert store.waiting.wait(10)
    stopping = threading.Thread(target=runner.stop)
    stopping.start()
    stopping.join(0.2)
    assert stopping.is_alive()  # still waiting for the worker (a lower bound: 0.2 s at least)
    store.gate.set()
    stopping.join(10)

    assert not stopping.is_alive()
    assert _statuses(services, [generation_id]) == [(Status.SUCCEEDED, 1)]


def test_a_result_that_cannot_be_stored_fails_the_job_and_returns_its_tokens(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(3)
    (generation_id,) = queue_generations(services, user, 1)
    # A folder where the result file goes: writing it fails, as on a broken disk.
    key = f"coloringbook/{generation_id[:2]}/{generation_id}-result-1.png"
    (Path(services.settings.media_dir) / key).mkdir(parents=True)
    runner = one_worker_runner(services, store=LocalMediaStore(Path(services.settings.media_dir)))
    runner.start()
    try:
        wait_until(lambda: _statuses(services, [generation_id])[0][0] == Status.FAILED)
    finally:
        runner.stop()
    with services.database.session() as session:
        generation = session.scalar(select(Generation).where(Generation.id == generation_id))
        assert generation is not None and generation.hold_state == HoldState.VOIDED
        assert verify_all(session) == []
