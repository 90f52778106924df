"""Workers take the upload's decoded pixels when they have them, the stored file otherwise."""

from __future__ import annotations

import secrets

from PIL import Image
from sqlalchemy import select
from tests.factories import photo_bytes

from forkable.accounts.service import Principal, create_user
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations import service
from forkable.generations.models import Generation, Status
from forkable.generations.uploads import validate_image
from forkable.ledger.book import get_balance
from forkable.services import Services


def _queued_generation(services: Services) -> tuple[Principal, str, Image.Image]:
    """A user with 3 tokens and one queued generation whose stored input file is gone."""
    upgrade(services.database)
    sync_sites(services.database, services.sites)
    site = services.sites.get("coloringbook")
    assert site is not None
    user = create_user(
        services.database,
        services.passwords,
        site_id=site.id,
        email="grace@example.com",
        password=secrets.token_urlsafe(16),
        signup_bonus=3,
    )
    principal = Principal(user.id, site.id, user.email, False, "session")
    image = validate_image(photo_bytes(), max_bytes=10_000_000)
    submitted = service.submit(
        services.database,
        services.store,
        principal,
        image=image,
        style=None,
        cost=1,
        idempotency_key=None,
    )
    generation = submitted.generation
    assert generation.input_key is not None
    services.store.delete(generation.input_key)
    return principal, generation.id, image.image


def _finished(services: Services, generation_id: str) -> Generation:
    with services.database.session() as session:
        generation = session.scalar(select(Generation).where(Generation.id == generation_id))
    assert generation is not None
    return generation


def test_a_handed_over_image_needs_no_stored_file(services: Services) -> None:
    principal, generation_id, image = _queued_generation(services)
    services.runner.keep_decoded(generation_id, image)

    assert services.runner.run_once(generation_id)

    generation = _finished(services, generation_id)
    assert generation.status == Status.SUCCEEDED
    assert generation.output_key and services.store.get(generation.output_key)
    assert len(services.runner.decoded) == 0
    with services.database.session() as session:
        balance = get_balance(session, principal.user_id)
    assert (balance.balance, balance.held) == (2, 0)


def test_without_the_image_the_worker_reads_the_stored_file(services: Services) -> None:
    # As after a restart: nothing handed over, so the (here missing) file is the only input,
    # and a job that cannot read it fails with its tokens returned.
    principal, generation_id, _ = _queued_generation(services)

    assert services.runner.run_once(generation_id)

    generation = _finished(services, generation_id)
    assert generation.status == Status.FAILED
    with services.database.session() as session:
        balance = get_balance(session, principal.user_id)
    assert (balance.balance, balance.held) == (3, 0)
