"""A bucket that cannot be reached while a job runs: the job fails cleanly with its tokens
back, never a charge without a result."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import pytest
from sqlalchemy import select
from tests.factories import open_policy, photo_bytes
from tests.support.s3 import new_bucket, s3_server

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import Principal, create_user
from forkable.app import build_services, build_worker
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations.models import Generation, HoldState, Status
from forkable.generations.submission import submit_and_start
from forkable.generations.uploads import validate_image
from forkable.generations.verify import verify_all
from forkable.ledger.models import TokenAccount
from forkable.settings import Settings
from forkable.sites import SiteRegistry

pytestmark = pytest.mark.postgres


def test_a_job_whose_bucket_is_down_fails_with_its_tokens_back(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], postgres_url: str
) -> None:
    with s3_server() as server:  # its own server, to take down mid-test
        bucket = new_bucket(server)
        settings = settings_factory(
            database_url=postgres_url,
            no_jobs=True,
            media_url=f"s3://{bucket.name}/media",
            aws_environment=bucket.environ(),
        )
        web = build_services(registry, settings, passwords=fast_passwords())
        upgrade(web.database)
        sync_sites(web.database, registry)
        worker = build_worker(registry, settings, database=web.database, concurrency=1)
        user = create_user(
            web.database,
            web.passwords,
            site_id="coloringbook",
            email=f"{secrets.token_hex(4)}@example.com",
            password=secrets.token_urlsafe(16),
            signup_bonus=3,
        )
        principal = Principal(user.id, user.site_id, user.email, False, "session")
        submitted = submit_and_start(
            web.database,
            web.store,
            web.runner,
            web.announcer,
            principal,
            image=validate_image(photo_bytes(size=96), max_bytes=10_000_000),
            style=None,
            policy=open_policy(),
            idempotency_key=None,
            inline=False,
        )
    # The server is gone: connections to the bucket are refused.
    generation_id = submitted.generation.id

    outcome = asyncio.run(worker.run_generation(generation_id))

    assert outcome == "failed"
    with web.database.session() as session:
        row = session.scalar(select(Generation).where(Generation.id == generation_id))
        assert row is not None
        assert (row.status, row.hold_state, row.output_key) == (
            Status.FAILED,
            HoldState.VOIDED,
            None,
        )
        account = session.scalar(select(TokenAccount).where(TokenAccount.user_id == user.id))
        assert account is not None and (account.balance, account.held) == (3, 0)
        assert verify_all(session) == []
    worker.close()
    web.database.dispose()
