"""The media keys that the rows of a database reference, and clearing the ones that are gone."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, or_, select, update

from forkable.db import Database
from forkable.generations.models import Generation

# Generations are the only rows that name media: the uploaded photo and the result.
_KEY_COLUMNS = ("input_key", "output_key")


def keys_in_sqlite_copy(copy: Path) -> list[str]:
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT input_key, output_key FROM generations "
            "WHERE input_key IS NOT NULL OR output_key IS NOT NULL"
        ).fetchall()
    connection.close()
    return _distinct(key for row in rows for key in row)


def revision_in_sqlite_copy(copy: Path) -> str | None:
    """The schema revision the copy was taken at (Alembic's one-row table)."""
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    connection.close()
    return str(row[0]) if row else None


def keys_in_connection(connection: Connection) -> list[str]:
    rows = connection.execute(
        select(Generation.input_key, Generation.output_key).where(
            or_(Generation.input_key.is_not(None), Generation.output_key.is_not(None))
        )
    ).all()
    return _distinct(key for row in rows for key in row)


def clear_keys(database: Database, keys: Iterable[str]) -> None:
    """Forget keys whose objects the archive does not hold, as retention does once it deletes."""
    keys = list(keys)
    if not keys:
        return
    with database.transaction() as session:
        for column in _KEY_COLUMNS:
            attribute = getattr(Generation, column)
            session.execute(update(Generation).where(attribute.in_(keys)).values({column: None}))


def _distinct(keys: Iterable[str | None]) -> list[str]:
    return sorted({key for key in keys if key})
