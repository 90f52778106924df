"""`forkable users export` and `forkable users delete`: a data-subject request by mail.

The same export and erasure as the user's own (`GET /api/v1/me/export`, `DELETE /api/v1/me`),
without the password: the operator has checked who asked.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from sqlalchemy import select

from forkable.account_data.erase import (
    Requester,
    StillWorking,
    UnknownUser,
    erase_account,
    finish_erasures,
)
from forkable.account_data.export import plan_export, stream_export
from forkable.accounts.emails import InvalidEmail, normalise_email
from forkable.accounts.models import User
from forkable.asgi import default_sites_path, open_registry
from forkable.cli.context import open_database, resolve_site
from forkable.cli.output import fail
from forkable.db import Database
from forkable.manifest import ManifestError
from forkable.settings import Settings, load_settings
from forkable.sites import Site
from forkable.storage import MediaStore, open_store


def _find_user(database: Database, site: str, email: str) -> int:
    try:
        address = normalise_email(email)
    except InvalidEmail as exc:
        fail(str(exc))
    with database.session() as session:
        user_id = session.scalar(
            select(User.id).where(
                User.site_id == site, User.email == address, User.deleted_at.is_(None)
            )
        )
    if user_id is None:
        fail(f"no user {address} on {site}")
    return user_id


def _store(settings: Settings, database: Database) -> MediaStore:
    return open_store(settings.media_location, database=database, environ=settings.aws_environment)


def run_export(email: str, site_id: str | None, out: Path) -> None:
    settings = load_settings()
    if out.exists() and out.is_dir():
        fail(f"{out} is a folder: name the zip file to write")
    if not out.parent.is_dir():
        fail(f"the folder {out.parent} does not exist")
    with open_database() as database:
        site = resolve_site(database, site_id)
        user_id = _find_user(database, site, email)
        try:
            plan = plan_export(database, site_id=site, user_id=user_id)
        except UnknownUser:
            fail(f"no user {email} on {site}")
        store = _store(settings, database)
        partial = out.with_name(f".{out.name}.partial")
        size = 0
        with partial.open("wb") as sink:
            for chunk in stream_export(store, plan):
                sink.write(chunk)
                size += len(chunk)
        os.replace(partial, out)
    typer.echo(f"exported {email} on {site} to {out} ({len(plan.files)} file(s), {size} bytes)")


def _site(settings: Settings, site_id: str, sites_path: Path | None) -> Site:
    """The served site ``site_id`` (its manifest words the goodbye mail)."""
    path = (sites_path or settings.sites_path or default_sites_path()).resolve()
    try:
        registry = open_registry(path)
    except (ManifestError, OSError) as exc:
        fail(f"cannot load the sites at {path}: {exc}")
    site = registry.get(site_id)
    if site is None:
        fail(f"site {site_id!r} is not in {path}: pass --sites with its folder")
    return site


def run_delete(email: str, site_id: str | None, yes: bool, sites_path: Path | None) -> None:
    settings = load_settings()
    with open_database() as database:
        site_key = resolve_site(database, site_id)
        user_id = _find_user(database, site_key, email)
        site = _site(settings, site_key, sites_path)
        if not yes:
            typer.confirm(
                f"Delete the account {email} (id {user_id}) on {site_key}, its photos and "
                "results, for good?",
                abort=True,
            )
        try:
            erasure = erase_account(
                database,
                _store(settings, database),
                site,
                user_id=user_id,
                requester=Requester(by="cli", actor="cli"),
            )
        except UnknownUser:
            fail(f"no user {email} on {site_key}")
        except StillWorking:
            fail(f"{email} has an image still being made: try again in a minute")
    typer.echo(
        f"deleted user {user_id} on {site_key}: {erasure.photos_deleted} photo(s) and "
        f"{erasure.results_deleted} result(s) removed"
    )
    if not erasure.complete:
        fail(
            f"{erasure.files_pending} file(s) could not be deleted from the media store yet; "
            "run `forkable users finish-deletions` later to delete them",
            code=2,
        )


def run_finish_deletions() -> None:
    settings = load_settings()
    with open_database() as database:
        left = finish_erasures(database, _store(settings, database))
    if left:
        fail(f"{left} file(s) of deleted accounts could still not be deleted; try again later")
    typer.echo("no file of a deleted account is left in the media store")
