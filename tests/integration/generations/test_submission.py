"""Submitting starts the job at once on an idle worker, queues it otherwise, never loses it."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.factories import open_policy, photo_bytes
from tests.integration.generations.conftest import MakeUser
from tests.support.waiting import wait_until

from forkable.accounts.service import Principal
from forkable.generations.models import Generation, Status
from forkable.generations.service import Submitted
from forkable.generations.submission import submit_and_start
from forkable.generations.uploads import ValidatedImage, validate_image
from forkable.generations.verify import verify_all
from forkable.ledger.book import InsufficientTokens
from forkable.services import Services


def _photo() -> ValidatedImage:
    return validate_image(photo_bytes(size=96), max_bytes=10_000_000)


def _submit(services: Services, user: Principal, *, inline: bool) -> Submitted:
    """One photo, cost 1, no style, no Idempotency-Key."""
    return submit_and_start(
        services.database,
        services.store,
        services.runner,
        user,
        image=_photo(),
        style=None,
        policy=open_policy(),
        idempotency_key=None,
        inline=inline,
    )


def _start_and_wait_for_an_idle_worker(services: Services) -> None:
    services.runner.start()
    wait_until(lambda: services.runner.reserve_idle_worker() is not None)
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
    wait_until(lambda: _generation(services, generation.id).status == Status.SUCCEEDED)
    assert _generation(services, generation.id).attempts == 1  # never claimed again
    assert services.runner.reservations == 0
    with services.database.session() as session:
        assert verify_all(session) == []


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
