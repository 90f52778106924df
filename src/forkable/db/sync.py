"""Keeping the `sites` table in step with the manifests being served."""

from __future__ import annotations

from collections.abc import Iterable

from forkable.db.base import SiteRow
from forkable.db.engine import Database
from forkable.sites import Site


def sync_sites(database: Database, sites: Iterable[Site]) -> None:
    """Insert new sites and update names and domains of known ones; never delete rows."""
    with database.transaction() as session:
        for site in sites:
            row = session.get(SiteRow, site.id)
            info = site.manifest.site
            if row is None:
                session.add(SiteRow(id=site.id, name=info.name, domain=info.domain))
            elif (row.name, row.domain) != (info.name, info.domain):
                row.name, row.domain = info.name, info.domain
