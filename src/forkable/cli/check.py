"""`forkable check`: every problem of every manifest, at once.

Given one path, it must be a site: a folder with a site.toml, the site.toml itself, or a folder
of sites. Given several (as a shell glob like `examples/*` gives them), paths that are none of
these, such as a `PHOTO-CREDITS.md` or a `plugins/` folder beside the sites, are skipped with a
note on stderr: the glob swept them, the user did not mean them. A path that does not exist is
an error either way (a glob only names what exists, so it is a typo), and so is a run in which
nothing was left to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from forkable.manifest import ManifestError, load_sites, site_folders
from forkable.providers.catalog import build_catalog

NOT_A_SITE = "not a site folder, a site.toml or a folder of sites"


def _sites_among(paths: Sequence[Path]) -> tuple[list[Path], list[str], list[str]]:
    """The paths to check, notes about skipped ones, and errors."""
    kept: list[Path] = []
    notes: list[str] = []
    errors: list[str] = []
    for path in paths:
        if not path.exists():
            errors.append(f"{path}: no such file or folder")
        elif site_folders(path):
            kept.append(path)
        elif len(paths) == 1:
            errors.append(f"{path}: {NOT_A_SITE}")
        else:
            notes.append(f"skipped {path}: {NOT_A_SITE}")
    if not kept and not errors:
        errors.append(f"no site among {len(paths)} paths")
    return kept, notes, errors


def run_check(paths: Sequence[Path]) -> int:
    """Print problems (exit code 1) or one line per valid site (exit code 0)."""
    kept, notes, errors = _sites_among(paths)
    for note in notes:
        typer.echo(note, err=True)
    if errors:
        for error in errors:
            typer.echo(f"error: {error}", err=True)
        return 1
    try:
        sources = load_sites(kept, build_catalog())
    except ManifestError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        count = len(exc.problems)
        typer.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)
        return 1
    for source in sources:
        typer.echo(f"ok: {source.manifest.site.id} ({source.manifest_path})")
    return 0
