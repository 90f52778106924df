"""A migrated database with one user of the coloring-book site, for the runner's tests."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from forkable.accounts.service import Principal, create_user
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.services import Services

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
