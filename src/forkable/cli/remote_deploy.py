"""`forkable deploy --target github|vercel`: print each step, one line per problem, exit 1."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import typer

from forkable.cli.output import fail
from forkable.deploy.http_retry import RemoteDeployError
from forkable.deploy.remote import StepFailed, deploy_remote
from forkable.deploy.remote_settings import (
    RemoteSettings,
    RemoteSettingsError,
    load_remote_settings,
    process_environ,
)
from forkable.manifest import ManifestError


def run_remote_deploy(
    path: Path, target: str, dry_run: bool, *, environ: Mapping[str, str] | None = None
) -> None:
    """The CLI's `deploy --target github|vercel`: print each step; one line per problem."""
    try:
        settings = load_remote_settings(process_environ() if environ is None else environ)
    except RemoteSettingsError as exc:
        fail(*exc.problems)
    redact = _redactor(settings)  # belt and braces: no message should hold a token anyway

    def echo(line: str) -> None:
        typer.echo(redact(line))

    try:
        deploy_remote(path, target, settings, dry_run=dry_run, echo=echo)
    except ManifestError as exc:
        fail(*(str(problem) for problem in exc.problems))
    except StepFailed as exc:
        fail(redact(str(exc)), *(redact(line) for line in exc.progress_lines()))
    except RemoteDeployError as exc:
        fail(redact(str(exc)))


def _redactor(settings: RemoteSettings) -> Callable[[str], str]:
    # Real tokens are long; masking a short test value would garble ordinary words.
    tokens = [t for t in (settings.github_token, settings.vercel_token) if t and len(t) >= 8]

    def redact(text: str) -> str:
        for token in tokens:
            text = text.replace(token, "***")
        return text

    return redact
