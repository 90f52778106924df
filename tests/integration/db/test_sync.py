"""The `sites` table follows the manifests, also when several processes start at once."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import delete, select

from forkable.asgi import open_registry
from forkable.db import Database
from forkable.db.base import SiteRow
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.sites import Site

CONTENDERS = 4


def _start(
    database: Database, sites: list[Site], barrier: threading.Barrier, errors: list[BaseException]
) -> None:
    barrier.wait()
    try:
        sync_sites(database, sites)
    except BaseException as exc:  # the test reports it
        errors.append(exc)


def test_processes_starting_together_all_sync_the_sites(database_url: str, sites_dir: Path) -> None:
    sites = list(open_registry(sites_dir))
    setup = Database(database_url)
    upgrade(setup)
    # One engine each, as separate processes would have.
    databases = [Database(database_url) for _ in range(CONTENDERS)]
    try:
        for _ in range(5):
            with setup.transaction() as session:
                session.execute(delete(SiteRow))
            barrier = threading.Barrier(CONTENDERS)
            errors: list[BaseException] = []

            threads = [
                threading.Thread(target=_start, args=(db, sites, barrier, errors))
                for db in databases
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            with setup.session() as session:
                assert sorted(session.scalars(select(SiteRow.id))) == sorted(s.id for s in sites)
    finally:
        for database in [setup, *databases]:
            database.dispose()


def test_a_renamed_site_is_updated_and_an_unchanged_one_keeps_its_timestamp(
    database_url: str, sites_dir: Path
) -> None:
    sites = list(open_registry(sites_dir))
    database = Database(database_url)
    try:
        upgrade(database)
        sync_sites(database, sites)
        with database.transaction() as session:
            first = session.get(SiteRow, sites[0].id)
            assert first is not None
            first.name = "An old name"
        with database.session() as session:
            before = {row.id: row.updated_at for row in session.scalars(select(SiteRow))}
        sync_sites(database, sites)
        with database.session() as session:
            rows = {row.id: row for row in session.scalars(select(SiteRow))}
        assert rows[sites[0].id].name == sites[0].manifest.site.name
        assert rows[sites[0].id].updated_at > before[sites[0].id]
        for site in sites[1:]:
            assert rows[site.id].updated_at == before[site.id]
    finally:
        database.dispose()
