"""A migrated database with users of the coloring-book site, and what the runner's tests share:
a one-worker runner, queued generations and reading their rows back."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from sqlalchemy import select
from tests.factories import open_policy, photo_bytes

from forkable.accounts.service import Principal, create_user
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations import service
from forkable.generations.models import Generation
from forkable.generations.runner import JobRunner, RunnerConfig, Wakeup
from forkable.generations.uploads import validate_image
from forkable.generations.work import JobWork
from forkable.services import Services
from forkable.storage import MediaStore

MakeUser = Callable[[int], Principal]


@pytest.fixture
def make_user(services: Services) -> MakeUser:
    """Sign up a user with a balance of ``tokens`` on the coloring-book site."""
    upgrade(services.database)
    sync_sites(services.database, services.sites)

    def make(tokens: int) -> Principal:
        user = create_user(
            services.database,
            services.passwords,
            site_id="coloringbook",
            email=f"{secrets.token_hex(4)}@example.com",
            password=secrets.token_urlsafe(16),
            signup_bonus=tokens,
        )
        return Principal(user.id, user.site_id, user.email, False, "session")

    return make


def one_worker_runner(
    services: Services,
    *,
    store: MediaStore | None = None,
    lease_seconds: float = 5,
    poll_seconds: float = 0.05,
) -> JobRunner:
    """A runner of one worker thread on the services' database."""
    config = RunnerConfig(workers=1, lease_seconds=lease_seconds, poll_seconds=poll_seconds)
    wakeup = Wakeup()
    work = JobWork(
        database=services.database,
        store=store or services.store,
        sites=services.sites,
        resolver=services.resolver,
        announcer=wakeup,
        policy=config.policy,
    )
    return JobRunner(database=services.database, work=work, wakeup=wakeup, config=config)


def queue_generations(services: Services, user: Principal, count: int) -> list[str]:
    """Submit ``count`` small photos (queued, one token each); their ids in order."""
    return [
        service.submit(
            services.database,
            services.store,
            user,
            image=validate_image(photo_bytes(size=96), max_bytes=10_000_000),
            style=None,
            policy=open_policy(),
            idempotency_key=None,
        ).generation.id
        for _ in range(count)
    ]


def generation_rows(services: Services, ids: list[str]) -> list[Generation]:
    """The generations' rows, in the order of ``ids``."""
    with services.database.session() as session:
        rows = {g.id: g for g in session.scalars(select(Generation).where(Generation.id.in_(ids)))}
    return [rows[generation_id] for generation_id in ids]
