"""`forkable fork`: print what the fork did (or would do) and turn refusals into one line each."""

from __future__ import annotations

from pathlib import Path

import typer

from forkable.cli.output import fail
from forkable.deploy.fork import ForkError, ForkOptions, ForkResult, fork_site
from forkable.deploy.wheel import WheelError
from forkable.manifest import ManifestError
from forkable.settings import Settings, SettingsError, load_settings


def run_fork(
    source: Path,
    dest: Path,
    *,
    site_id: str | None,
    name: str | None,
    tagline: str | None,
    prompt: str | None,
    domain: str | None,
    primary_color: str | None,
    assignments: list[str],
    git: bool,
    regenerate_examples: bool,
    dry_run: bool,
    deploy_to: str | None = None,
) -> None:
    options = ForkOptions(
        site_id=site_id,
        name=name,
        tagline=tagline,
        prompt=prompt,
        domain=domain,
        primary_color=primary_color,
        assignments=tuple(assignments),
        git=git,
        regenerate_examples=regenerate_examples,
    )
    try:
        # The environment matters only for the model that re-makes the examples.
        settings = load_settings() if options.regenerate_examples else Settings()
        result = fork_site(source, dest, options, settings=settings, dry_run=dry_run)
    except (ForkError, SettingsError) as exc:
        fail(*exc.problems)
    except ManifestError as exc:
        fail(*(str(p) for p in exc.problems))
    except (WheelError, OSError) as exc:
        fail(str(exc))
    if deploy_to is not None and deploy_to not in ("vercel", "github"):
        fail(f"--deploy {deploy_to!r}: use vercel or github")
    _report(result, dry_run=dry_run)
    if deploy_to is None:
        return
    if dry_run:
        typer.echo(f"dry run: would then deploy {result.dest} to {deploy_to}")
        return
    deploy_with_progress(result.dest, deploy_to)


def deploy_with_progress(dest: Path, target: str) -> None:
    """Chain `deploy --target TARGET` after the fork, each step on a Rich progress line."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from forkable.deploy.http_retry import RemoteDeployError
    from forkable.deploy.remote import StepFailed, deploy_remote
    from forkable.deploy.remote_settings import (
        RemoteSettingsError,
        load_remote_settings,
        process_environ,
    )

    try:
        settings = load_remote_settings(process_environ())
    except RemoteSettingsError as exc:
        fail(*exc.problems)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=False
    ) as progress:
        task = progress.add_task(f"deploying to {target}", total=None)

        def echo(line: str) -> None:
            progress.console.print(line, highlight=False, markup=False)
            progress.update(task, description=f"deploying to {target}: {line.split(':', 1)[0]}")

        try:
            deploy_remote(dest, target, settings, echo=echo)
        except StepFailed as exc:
            progress.stop()
            fail(str(exc), *exc.progress_lines())
        except (RemoteDeployError, ManifestError) as exc:
            progress.stop()
            fail(str(exc))
        progress.update(task, description=f"deployed to {target}")


def _report(result: ForkResult, *, dry_run: bool) -> None:
    for note in result.notes:
        typer.echo(f"note: {note}")
    if dry_run:
        typer.echo(f"would create {result.dest} ({result.site_id}, {result.domain}):")
        for path, size in result.files.items():
            typer.echo(f"  {path}  ({_size(size)})")
        typer.echo("dry run: nothing was written")
        return
    git = ", one commit on main" if result.committed else ""
    typer.echo(
        f"created {result.dest}: site {result.site_id} on {result.domain}, "
        f"{len(result.files)} files{git}"
    )
    typer.echo(
        f"next: forkable serve {result.dest}   (then forkable deploy {result.dest} --target ...)"
    )


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
