"""Workers take the upload's decoded pixels when they have them, the stored file otherwise."""

from __future__ import annotations

from PIL import Image
from sqlalchemy import select
from tests.factories import open_policy, photo_bytes
from tests.integration.generations.conftest import MakeUser

from forkable.accounts.service import Principal
from forkable.generations import service
from forkable.generations.models import Generation, Status
from forkable.generations.uploads import validate_image
from forkable.ledger.book import get_balance
from forkable.services import Services


def _queued_generation(services: Services, user: Principal) -> tuple[str, Image.Image]:
    """One queued generation whose stored input file is gone, and its decoded photo."""
    image = validate_image(photo_bytes(), max_bytes=10_000_000)
    submitted = service.submit(
        services.database,
        services.store,
        user,
        image=image,
        style=None,
        policy=open_policy(),
        idempotency_key=None,
    )
    generation = submitted.generation
    assert generation.input_key is not None
    services.store.delete(generation.input_key)
    return generation.id, image.image


def _generation(services: Services, generation_id: str) -> Generation:
    with services.database.session() as session:
        generation = session.scalar(select(Generation).where(Generation.id == generation_id))
    assert generation is not None
    return generation


def _balance(services: Services, user: Principal) -> tuple[int, int]:
    with services.database.session() as session:
        balance = get_balance(session, user.user_id)
    return balance.balance, balance.held


def test_a_handed_over_image_needs_no_stored_file(services: Services, make_user: MakeUser) -> None:
    user = make_user(3)
    generation_id, image = _queued_generation(services, user)
    services.runner.keep_decoded(generation_id, image)

    assert services.runner.run_once(generation_id)

    generation = _generation(services, generation_id)
    assert generation.status == Status.SUCCEEDED
    assert generation.output_key and services.store.get(generation.output_key)
    assert len(services.runner.decoded) == 0
    assert _balance(services, user) == (2, 0)


def test_without_the_image_the_worker_reads_the_stored_file(
    services: Services, make_user: MakeUser
) -> None:
    # As after a restart: nothing handed over, so the (here missing) file is the only input,
    # and a job that cannot read it fails with its tokens returned.
    user = make_user(3)
    generation_id, _ = _queued_generation(services, user)

    assert services.runner.run_once(generation_id)

    assert _generation(services, generation_id).status == Status.FAILED
    assert _balance(services, user) == (3, 0)
