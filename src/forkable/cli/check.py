"""`forkable check`: every problem of every manifest, at once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from forkable.manifest import ManifestError, load_sites
from forkable.providers.catalog import build_catalog


def run_check(paths: Sequence[Path]) -> int:
    """Print problems (exit code 1) or one line per valid site (exit code 0)."""
    try:
        sources = load_sites(paths, build_catalog())
    except ManifestError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        count = len(exc.problems)
        typer.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)
        return 1
    for source in sources:
        typer.echo(f"ok: {source.manifest.site.id} ({source.manifest_path})")
    return 0
