"""Keeping the `sites` table in step with the manifests being served."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from forkable.db.base import SiteRow
from forkable.db.engine import Database
from forkable.db.types import utcnow
from forkable.sites import Site


def sync_sites(database: Database, sites: Iterable[Site]) -> None:
    """Insert new sites and update names and domains of known ones; never delete rows.

    Every process does this at start-up, and web and worker processes start at the same moment:
    one upsert per site, so two that both find a site missing do not both insert it.
    """
    insert = sqlite_insert if database.is_sqlite else postgresql_insert
    with database.transaction() as session:
        for site in sites:
            info = site.manifest.site
            now = utcnow()
            statement = insert(SiteRow).values(
                id=site.id, name=info.name, domain=info.domain, created_at=now, updated_at=now
            )
            changed = (SiteRow.name != statement.excluded.name) | (
                SiteRow.domain != statement.excluded.domain
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[SiteRow.id],
                    set_={
                        "name": statement.excluded.name,
                        "domain": statement.excluded.domain,
                        "updated_at": now,
                    },
                    where=changed,
                )
            )
