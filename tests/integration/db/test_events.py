"""Facts reach observers when their transaction commits, never when it rolls back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from forkable.db import Database
from forkable.db.events import Fact, LedgerBooked, note, observe


def test_only_committed_facts_are_told(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'facts.sqlite3'}")
    heard: list[list[Fact]] = []
    observe(database, heard.append)
    also: list[list[Fact]] = []
    observe(database, also.append)  # a second observer of the same database hears the same

    with database.transaction() as session:
        session.execute(text("SELECT 1"))
        note(session, LedgerBooked("s", "signup_bonus", 3, 0))
        savepoint = session.begin_nested()
        note(session, LedgerBooked("s", "purchase", 20, 0))
        savepoint.commit()  # a released savepoint is not a commit
        assert heard == []
    assert heard == [
        [LedgerBooked("s", "signup_bonus", 3, 0), LedgerBooked("s", "purchase", 20, 0)]
    ]
    assert also == heard

    with pytest.raises(RuntimeError), database.transaction() as session:
        session.execute(text("SELECT 1"))
        note(session, LedgerBooked("s", "admin_grant", 5, 0))
        raise RuntimeError("rolled back")
    with database.transaction() as session:
        session.execute(text("SELECT 1"))  # commits with no fact of its own
    assert len(heard) == 1

    with database.session() as session:
        session.execute(text("SELECT 1"))
        note(session, LedgerBooked("s", "admin_grant", 1, 0))
        session.commit()
    assert heard[-1] == [LedgerBooked("s", "admin_grant", 1, 0)]
    database.dispose()


def test_a_failing_observer_does_not_undo_the_commit(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'facts.sqlite3'}")

    def broken(_facts: list[Fact]) -> None:
        raise ValueError("observer bug")

    observe(database, broken)
    with database.transaction() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        note(session, LedgerBooked("s", "signup_bonus", 3, 0))
    with database.session() as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0
    database.dispose()
