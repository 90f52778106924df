"""Write transactions: durable by default, and the lease-only kind that does not wait for disk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from forkable.db import Database


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    built = Database(database_url)
    yield built
    built.dispose()


def _setting(database: Database, durable: bool) -> str:
    """What the engine promises about reaching the disk, read inside the transaction."""
    with database.transaction(durable=durable) as session:
        if database.is_sqlite:
            levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            return levels[session.execute(text("PRAGMA synchronous")).scalar_one()]
        return str(session.execute(text("SHOW synchronous_commit")).scalar_one())


def test_only_transactions_asked_not_to_be_durable_skip_the_wait_for_disk(
    database: Database,
) -> None:
    full, relaxed = ("FULL", "NORMAL") if database.is_sqlite else ("on", "off")
    # The same pooled connection serves one after the other: each gets its own setting.
    assert [_setting(database, durable) for durable in (True, False, True, False, False, True)] == [
        full,
        relaxed,
        full,
        relaxed,
        relaxed,
        full,
    ]


def test_an_undurable_transaction_still_commits_and_rolls_back(database: Database) -> None:
    with database.transaction() as session:
        session.execute(text("CREATE TABLE notes (body TEXT)"))
    with database.transaction(durable=False) as session:
        session.execute(text("INSERT INTO notes VALUES ('kept')"))
    with pytest.raises(RuntimeError), database.transaction(durable=False) as session:
        session.execute(text("INSERT INTO notes VALUES ('undone')"))
        raise RuntimeError("boom")
    with database.session() as session:
        assert list(session.execute(text("SELECT body FROM notes")).scalars()) == ["kept"]
