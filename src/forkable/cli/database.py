"""`forkable db ...`: migrations."""

from __future__ import annotations

import typer

from forkable.db import Database
from forkable.db.migrate import current_revision, upgrade
from forkable.settings import load_settings


def run_upgrade(revision: str) -> None:
    settings = load_settings()
    database = Database(settings.resolved_database_url)
    try:
        before = current_revision(database)
        upgrade(database, revision)
        after = current_revision(database)
    finally:
        database.dispose()
    if before == after:
        typer.echo(f"database is up to date (revision {after})")
    else:
        typer.echo(f"database upgraded from {before or 'empty'} to {after}")
