"""Web-side services with the shared queue (`serve --no-jobs`) and a queue worker, on a real
PostgreSQL; users of the coloring-book site and their photos."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from tests.factories import open_policy, photo_bytes

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import Principal, create_user
from forkable.app import build_services, build_worker
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations.submission import submit_and_start
from forkable.generations.uploads import validate_image
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.workers.process import QueueWorker

MakeUser = Callable[[int], Principal]


@pytest.fixture
def queue_settings(settings_factory: Callable[..., Settings], postgres_url: str) -> Settings:
    return settings_factory(database_url=postgres_url, no_jobs=True, job_lease_seconds=2)


@pytest.fixture
def web(registry: SiteRegistry, queue_settings: Settings) -> Iterator[Services]:
    """What a `serve --no-jobs` process submits with: its announcer is the shared queue."""
    services = build_services(registry, queue_settings, passwords=fast_passwords())
    upgrade(services.database)
    sync_sites(services.database, registry)
    yield services
    services.database.dispose()


@pytest.fixture
def worker(
    registry: SiteRegistry, queue_settings: Settings, web: Services
) -> Iterator[QueueWorker]:
    built = build_worker(
        registry, queue_settings, database=web.database, concurrency=2, resolver=web.resolver
    )
    yield built


@pytest.fixture
def make_user(web: Services) -> MakeUser:
    def make(tokens: int) -> Principal:
        user = create_user(
            web.database,
            web.passwords,
            site_id="coloringbook",
            email=f"{secrets.token_hex(4)}@example.com",
            password=secrets.token_urlsafe(16),
            signup_bonus=tokens,
        )
        return Principal(user.id, user.site_id, user.email, False, "session")

    return make


def submit(web: Services, user: Principal) -> str:
    """One small photo through the web's submit path; the new generation's id."""
    submitted = submit_and_start(
        web.database,
        web.store,
        web.runner,
        web.announcer,
        user,
        image=validate_image(photo_bytes(size=96), max_bytes=10_000_000),
        style=None,
        policy=open_policy(),
        idempotency_key=None,
        inline=False,
    )
    return submitted.generation.id


def waiting_messages(web: Services, generation_id: str) -> int:
    """Messages for the generation that wait in Procrastinate's queue."""
    with web.database.session() as session:
        count = session.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs "
                "WHERE args->>'generation_id' = :id AND status = 'todo'"
            ),
            {"id": generation_id},
        ).scalar_one()
    return int(count)
