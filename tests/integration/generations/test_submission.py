"""Submitting queues the job and wakes a worker, or runs it inline; a refusal keeps nothing."""

from __future__ import annotations

from pathlib import Path

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
        services.announcer,
        user,
        image=_photo(),
        style=None,
        policy=open_policy(),
        idempotency_key=None,
        inline=inline,
    )


def _generation(services: Services, generation_id: str) -> Generation:
    with services.database.session() as session:
        generation = session.scalar(select(Generation).where(Generation.id == generation_id))
    assert generation is not None
    return generation


def test_the_job_is_queued_and_a_waiting_worker_runs_it(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(3)
    services.runner.start()

    submitted = _submit(services, user, inline=False)

    assert submitted.generation.status == Status.QUEUED
    wait_until(lambda: _generation(services, submitted.generation.id).status == Status.SUCCEEDED)
    assert _generation(services, submitted.generation.id).attempts == 1
    with services.database.session() as session:
        assert verify_all(session) == []


def test_without_a_worker_the_job_waits_in_the_queue(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(3)  # the runner is not started

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


def test_a_refused_submit_keeps_nothing(services: Services, make_user: MakeUser) -> None:
    user = make_user(0)
    services.runner.start()

    with pytest.raises(InsufficientTokens):
        _submit(services, user, inline=False)

    with services.database.session() as session:
        assert session.scalar(select(Generation.id)) is None
    assert not any(path.is_file() for path in Path(services.settings.media_dir).rglob("*"))
