"""`forkable deploy`: the docker target here; vercel and github in `forkable.cli.remote_deploy`."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from forkable.cli.output import fail
from forkable.deploy.docker import DockerError, deploy_docker
from forkable.deploy.wheel import WheelError
from forkable.manifest import ManifestError

TARGETS = ("vercel", "docker", "github")
# Imported by name so that a forkable without the remote deploy code still runs docker.
REMOTE_MODULE = "forkable.cli.remote_deploy"
REMOTE_LIBRARY = "forkable.deploy.remote"


def run_deploy(path: Path, target: str, dry_run: bool) -> None:
    target = target.strip().lower()
    if target not in TARGETS:
        fail(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
    if target == "docker":
        _docker(path, dry_run)
        return
    try:
        remote = importlib.import_module(REMOTE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name not in (REMOTE_MODULE, REMOTE_LIBRARY):
            fail(f"the {target} target needs the Python module {exc.name!r}: install it")
        fail(f"the {target} target is not available in this forkable ({exc.name} is missing)")
    result = remote.run_remote_deploy(path, target, dry_run)
    if isinstance(result, int) and not isinstance(result, bool) and result != 0:
        raise typer.Exit(result)


def _docker(path: Path, dry_run: bool) -> None:
    try:
        result = deploy_docker(path, dry_run=dry_run)
    except ManifestError as exc:
        fail(*(str(p) for p in exc.problems))
    except DockerError as exc:
        fail(*exc.problems)
    except (WheelError, OSError) as exc:
        fail(str(exc))
    for check in result.lint:
        if check.skipped:
            typer.echo(f"not checked: {check.path} ({check.skipped})", err=True)
        else:
            typer.echo(f"checked: {check.path} ({check.tool})")
    if dry_run:
        for relative in result.files:
            typer.echo(f"would write {result.site.folder / relative}")
        typer.echo("dry run: nothing was written")
    else:
        for written in result.written:
            typer.echo(f"{written.status}: {result.site.folder / written.path}")
    typer.echo("run it with:")
    for command in result.commands:
        typer.echo(f"  {command}")
