"""Submitting starts the job at once on an idle worker, queues it otherwise, never loses it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.factories import photo_bytes
from tests.integration.generations.conftest import MakeUser
from tests.support.providers import FailingProvider, FixedResolver

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import Principal
from forkable.app import build_services
from forkable.generations.models import Generation, HoldState, Status
from forkable.generations.runner import RunnerConfig
from forkable.generations.service import Submitted
from forkable.generations.submission import submit_and_start
from forkable.generations.uploads import ValidatedImage, validate_image
from forkable.ledger.book import InsufficientTokens
from forkable.ledger.verify import verify
from forkable.providers.base import DOWN
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.storage import LocalMediaStore, MediaStore


def _photo() -> ValidatedImage:
    return validate_image(photo_bytes(size=96), max_bytes=10_000_000)


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise TimeoutError("condition not met")


def _submit(
    services: Services, user: Principal, *, inline: bool, store: MediaStore | None = None
) -> Submitted:
    """One photo, cost 1, no style, no Idempotency-Key."""
    return submit_and_start(
        services.database,
        store or services.store,
        services.runner,
        user,
        image=_photo(),
        style=None,
        cost=1,
        idempotency_key=None,
        inline=inline,
    )


def _start_and_wait_for_an_idle_worker(services: Services) -> None:
    services.runner.start()
    _wait_until(lambda: services.runner.reserve_idle_worker() is not None)
    services.runner.release()


def _generation(services: Services, generation_id: str) -> Generation:
    with services.database.session() as session:
        generation = session.scalar(select(Generation).where(Generation.id == generation_id))
    assert generation is not None
    return generation


def test_an_idle_worker_starts_the_job_from_the_submit_transaction(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(3)
    _start_and_wait_for_an_idle_worker(services)

    submitted = _submit(services, user, inline=False)

    generation = submitted.generation
    assert generation.status == Status.RUNNING  # leased in the same transaction
    assert generation.lease_owner == services.runner.owner and generation.attempts == 1
    _wait_until(lambda: _generation(services, generation.id).status == Status.SUCCEEDED)
    assert _generation(services, generation.id).attempts == 1  # never claimed again
    assert services.runner.reservations == 0
    with services.database.session() as session:
        assert verify(session) == []


def test_without_an_idle_worker_the_job_is_queued(services: Services, make_user: MakeUser) -> None:
    user = make_user(3)  # the runner is not started: no worker is idle

    submitted = _submit(services, user, inline=False)

    assert submitted.generation.status == Status.QUEUED
    assert services.runner.run_once()
    assert _generation(services, submitted.generation.id).status == Status.SUCCEEDED


def test_inline_the_job_has_finished_when_the_submit_returns(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(3)

    submitted = _submit(services, user, inline=True)

    generation = _generation(services, submitted.generation.id)
    assert (generation.status, generation.attempts) == (Status.SUCCEEDED, 1)


def test_a_refused_submit_gives_back_the_worker_and_the_pixels(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(0)
    _start_and_wait_for_an_idle_worker(services)

    with pytest.raises(InsufficientTokens):
        _submit(services, user, inline=False)

    assert services.runner.reservations == 0
    assert len(services.runner.decoded) == 0
    with services.database.session() as session:
        assert session.scalar(select(Generation.id)) is None


def test_the_photo_is_stored_by_the_time_the_submit_returns(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(3)
    _start_and_wait_for_an_idle_worker(services)
    image = _photo()

    submitted = submit_and_start(
        services.database,
        services.store,
        services.runner,
        user,
        image=image,
        style=None,
        cost=1,
        idempotency_key=None,
        inline=False,
    )

    assert submitted.generation.status == Status.RUNNING  # stored while the worker ran
    assert submitted.generation.input_key is not None
    assert services.store.get(submitted.generation.input_key) == image.data


def test_a_photo_that_cannot_be_stored_is_logged_and_the_hold_still_settles(
    services: Services, make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user(3)
    _start_and_wait_for_an_idle_worker(services)
    # The site's media folder is a file: every write under it fails, as on a broken disk.
    site_folder = Path(services.settings.media_dir) / "coloringbook"
    site_folder.parent.mkdir(parents=True, exist_ok=True)
    site_folder.write_bytes(b"")

    with caplog.at_level(logging.ERROR):
        submitted = _submit(services, user, inline=False)

    assert [r for r in caplog.records if getattr(r, "event", None) == "input_not_stored"]
    generation_id = submitted.generation.id
    # The result cannot be stored either: the job fails and its tokens come back, once.
    _wait_until(lambda: _generation(services, generation_id).status == Status.FAILED)
    assert _generation(services, generation_id).hold_state == HoldState.VOIDED
    with services.database.session() as session:
        assert verify(session) == []


class GatedStore(LocalMediaStore):
    """The media folder, but writing a photo waits until the test opens the gate."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if "-input" in key:
            assert self.gate.wait(10)
        super().put(key, data, content_type)


def test_a_job_goes_back_to_the_queue_only_once_its_photo_is_stored(
    registry: SiteRegistry, settings: Settings, make_user: MakeUser
) -> None:
    # Another process could claim a requeued job at once and would need the stored photo.
    provider = FailingProvider(DOWN, retryable=True)
    services = build_services(
        registry,
        settings,
        passwords=fast_passwords(),
        resolver=FixedResolver(settings, provider),
        runner_config=RunnerConfig(workers=1, lease_seconds=5, poll_seconds=0.05, max_attempts=2),
    )
    try:
        user = make_user(3)
        _start_and_wait_for_an_idle_worker(services)
        store = GatedStore(Path(settings.media_dir))
        submitted: list[Submitted] = []
        submitting = threading.Thread(
            target=lambda: submitted.append(_submit(services, user, inline=False, store=store))
        )
        submitting.start()
        _wait_until(lambda: provider.calls == 1)
        time.sleep(0.3)  # the worker has failed the first attempt and waits for the photo
        with services.database.session() as session:
            rows = list(session.scalars(select(Generation)))
        assert [(g.status, g.attempts) for g in rows] == [(Status.RUNNING, 1)]

        store.gate.set()
        submitting.join(10)
        generation_id = submitted[0].generation.id
        _wait_until(lambda: _generation(services, generation_id).status == Status.FAILED)
        # The second attempt found the photo and asked the provider again.
        assert provider.calls == 2
        assert _generation(services, generation_id).error_code == DOWN
        with services.database.session() as session:
            assert verify(session) == []
    finally:
        services.runner.stop()
        services.database.dispose()
