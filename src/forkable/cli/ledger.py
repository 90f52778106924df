"""`forkable ledger verify`."""

from __future__ import annotations

import typer
from sqlalchemy import func, select

from forkable.cli.context import open_database
from forkable.generations.verify import verify_all
from forkable.ledger.models import LedgerEntry, TokenAccount


def run_verify(site_id: str | None) -> int:
    with open_database() as database, database.session() as session:
        violations = verify_all(session, site_id)
        accounts = session.scalar(select(func.count()).select_from(TokenAccount)) or 0
        entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    if violations:
        for violation in violations:
            typer.echo(str(violation), err=True)
        typer.echo(
            f"{len(violations)} violation{'s' if len(violations) != 1 else ''} found", err=True
        )
        return 1
    typer.echo(f"ledger ok: {accounts} accounts, {entries} entries, every invariant holds")
    return 0
