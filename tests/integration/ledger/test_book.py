"""Booking by reference: a repeat is recognised by the unique index, alone or in a race."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from forkable.accounts.service import create_user
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations.verify import verify_all
from forkable.ledger.book import debit, get_balance
from forkable.ledger.models import EntryKind, LedgerEntry
from forkable.services import Services


def _user_with(services: Services, tokens: int) -> int:
    upgrade(services.database)
    sync_sites(services.database, services.sites)
    user = create_user(
        services.database,
        services.passwords,
        site_id="coloringbook",
        email=f"{secrets.token_hex(4)}@example.com",
        password=secrets.token_urlsafe(16),
        signup_bonus=tokens,
    )
    return user.id


def _debit(services: Services, user_id: int, amount: int, ref: str) -> int | None:
    with services.database.transaction() as session:
        return debit(
            session,
            site_id="coloringbook",
            user_id=user_id,
            amount=amount,
            kind=EntryKind.ADMIN_GRANT,
            ref=ref,
        )


def _entries(services: Services, ref: str) -> int:
    with services.database.session() as session:
        return session.scalar(select(func.count()).where(LedgerEntry.ref == ref)) or 0


def test_a_repeat_is_not_refused_for_want_of_tokens(services: Services) -> None:
    user_id = _user_with(services, 5)
    assert _debit(services, user_id, 4, "revoke:1") is not None

    # Only 1 token is left, but this event was booked already: nothing happens, no error.
    assert _debit(services, user_id, 4, "revoke:1") is None

    with services.database.session() as session:
        assert get_balance(session, user_id).balance == 1
        assert verify_all(session) == []
    assert _entries(services, "revoke:1") == 1


def test_the_same_reference_booked_at_once_from_eight_threads(services: Services) -> None:
    """Eight bookings of one reference start together; one is booked, seven find it booked.

    On SQLite the writers of one process take turns by design (`Database.transaction`), so
    there the bookings queue up; the PostgreSQL run is the race, settled by the unique index.
    """
    user_id = _user_with(services, 100)
    start = threading.Barrier(8)

    def book(_: int) -> int | None:
        start.wait(10)
        return _debit(services, user_id, 3, "revoke:race")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(book, range(8)))

    assert sum(result is not None for result in results) == 1
    assert _entries(services, "revoke:race") == 1
    with services.database.session() as session:
        assert get_balance(session, user_id).balance == 97
        assert verify_all(session) == []
