"""What the operator commands share: the database from the environment, the site to act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from forkable.cli.output import fail
from forkable.db import Database
from forkable.db.base import SiteRow
from forkable.db.migrate import is_up_to_date, upgrade
from forkable.settings import load_settings


@contextmanager
def open_database() -> Iterator[Database]:
    """The configured database, migrated if it is the embedded SQLite."""
    settings = load_settings()
    database = Database(settings.resolved_database_url)
    try:
        if database.is_sqlite:
            upgrade(database)
        elif not is_up_to_date(database):
            fail("the database schema is out of date: run `forkable db upgrade` first")
        yield database
    finally:
        database.dispose()


def resolve_site(database: Database, site_id: str | None) -> str:
    """``--site``, or the only site in the database."""
    with database.session() as session:
        known = list(session.scalars(select(SiteRow.id).order_by(SiteRow.id)))
    if site_id is not None:
        if site_id not in known:
            fail(f"unknown site {site_id!r} (known: {', '.join(known) or 'none; serve it once'})")
        return site_id
    if len(known) == 1:
        return known[0]
    if not known:
        fail("no site in this database yet: run `forkable serve` once, or pass --site")
    fail(f"this database holds several sites ({', '.join(known)}): pass --site")
