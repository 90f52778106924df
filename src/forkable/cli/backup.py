"""`forkable backup DEST` and `forkable restore SRC`."""

from __future__ import annotations

from pathlib import Path

import typer

from forkable.backup import (
    BackupError,
    RestoreRefused,
    restore_archive,
    take_backup,
)
from forkable.cli.output import fail
from forkable.db import Database
from forkable.settings import load_settings


def run_backup(dest: Path) -> None:
    settings = load_settings()
    if dest.is_dir():
        fail(f"{dest} is a folder: name the archive file to write, e.g. {dest}/site.tar.gz")
    database = Database(settings.resolved_database_url)
    try:
        if database.is_sqlite and not Path(database.url.database or "").exists():
            fail(f"no database at {database.url.database}: nothing to back up")
        # Any schema revision is backed up as it is: a copy taken just before `forkable db
        # upgrade` is the one an operator wants; restore upgrades it to the running release.
        summary = take_backup(
            database, settings.media_location, dest, environ=settings.aws_environment
        )
    except BackupError as exc:
        fail(str(exc))
    except OSError as exc:  # the destination cannot be written: full disk, no permission
        fail(f"cannot write {dest}: {exc.strerror or exc}")
    finally:
        database.dispose()
    missing = f", {summary.missing} media already deleted" if summary.missing else ""
    typer.echo(
        f"backup {summary.path}: {summary.members} members, {summary.bytes} bytes, "
        f"revision {summary.revision}{missing}"
    )


def run_restore(src: Path, force: bool) -> int:
    settings = load_settings()
    if not src.is_file():
        fail(f"no archive at {src}")
    database = Database(settings.resolved_database_url)
    try:
        summary = restore_archive(
            database, settings.media_location, src, environ=settings.aws_environment, force=force
        )
    except RestoreRefused as exc:
        fail(str(exc))
    finally:
        database.dispose()
    manifest = summary.manifest
    typer.echo(
        f"restored {src}: {len(manifest.members)} members, {manifest.total_bytes} bytes, "
        f"revision {summary.revision} (archived at {manifest.revision}), "
        f"{summary.media} media, {summary.cleared} keys cleared"
    )
    if summary.violations:
        for violation in summary.violations:
            typer.echo(str(violation), err=True)
        count = len(summary.violations)
        typer.echo(f"{count} violation{'s' if count != 1 else ''} found", err=True)
        return 1
    typer.echo("ledger ok: every invariant holds")
    return 0
