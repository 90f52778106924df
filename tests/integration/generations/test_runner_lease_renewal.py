"""A worker renews its job's lease while it works, however long the work takes."""

from __future__ import annotations

import threading
from datetime import timedelta

from tests.integration.generations.conftest import MakeUser, generation_rows, queue_generations
from tests.support.waiting import wait_until

from forkable.db.types import utcnow
from forkable.generations import jobs
from forkable.generations.announce import Silent
from forkable.generations.models import Status
from forkable.generations.runner import JobRunner, RunnerConfig, Wakeup
from forkable.generations.verify import verify_all
from forkable.generations.work import JobWork
from forkable.providers.base import Provider, TransformRequest, TransformResult
from forkable.providers.resolver import Choice, ProviderResolver
from forkable.services import Services
from forkable.sites import Site

LEASE_SECONDS = 0.6  # the keeper renews every third of it


class GatedProvider:
    """The site's real provider, but each transform waits until the test opens the gate."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.working = threading.Event()
        self.gate = threading.Event()

    def transform(self, request: TransformRequest) -> TransformResult:
        self.working.set()
        assert self.gate.wait(30)
        return self.inner.transform(request)


class GatedResolver(ProviderResolver):
    def __init__(self, resolver: ProviderResolver) -> None:
        self.resolver = resolver
        self.provider: GatedProvider | None = None

    def for_site(self, site: Site) -> Choice:
        choice = self.resolver.for_site(site)
        if self.provider is None:
            self.provider = GatedProvider(choice.provider)
        return Choice(self.provider, choice.offline_preview)


def test_a_job_outlives_its_first_lease_while_its_worker_works(
    services: Services, make_user: MakeUser
) -> None:
    user = make_user(3)
    (generation_id,) = queue_generations(services, user, 1)
    resolver = GatedResolver(services.resolver)
    config = RunnerConfig(workers=1, lease_seconds=LEASE_SECONDS, poll_seconds=0.05)
    wakeup = Wakeup()
    work = JobWork(
        database=services.database,
        store=services.store,
        sites=services.sites,
        resolver=resolver,
        announcer=wakeup,
        policy=config.policy,
    )
    runner = JobRunner(database=services.database, work=work, wakeup=wakeup, config=config)
    runner.start()
    try:
        wait_until(lambda: resolver.provider is not None and resolver.provider.working.is_set())
        assert resolver.provider is not None
        (row,) = generation_rows(services, [generation_id])
        first_expiry = row.lease_expires_at
        assert first_expiry is not None
        # Two whole lease periods past the first lease's end (a lower bound, not a limit).
        wait_until(lambda: utcnow() > first_expiry + timedelta(seconds=2 * LEASE_SECONDS))

        (row,) = generation_rows(services, [generation_id])
        assert (row.status, row.attempts, row.lease_owner) == (Status.RUNNING, 1, runner.owner)
        assert row.lease_expires_at is not None and row.lease_expires_at > first_expiry
        assert (
            jobs.reap(services.database, max_attempts=3, announcer=Silent()) == []
        )  # nothing of it expired

        resolver.provider.gate.set()
        wait_until(lambda: generation_rows(services, [generation_id])[0].status == Status.SUCCEEDED)
    finally:
        if resolver.provider is not None:
            resolver.provider.gate.set()
        runner.stop()
    (row,) = generation_rows(services, [generation_id])
    assert row.attempts == 1  # made once, by the worker that kept its lease
    with services.database.session() as session:
        assert verify_all(session) == []
