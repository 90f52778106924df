"""`forkable deploy --target docker`: checked image and compose files, and how to run them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from forkable.deploy.bundle import DOCKER_FILES, Written, render_bundle, write_bundle
from forkable.deploy.lint import LintResult, lint_files
from forkable.deploy.wheel import VendoredWheel, running_wheel
from forkable.manifest import SiteSource, load_site
from forkable.providers.catalog import build_catalog


class DockerError(Exception):
    """The generated files failed their checks; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DockerResult:
    site: SiteSource
    files: dict[str, bytes]
    lint: list[LintResult]
    written: list[Written]  # empty on a dry run
    commands: list[str]


def deploy_docker(
    path: Path, *, dry_run: bool = False, wheel: VendoredWheel | None = None
) -> DockerResult:
    """Render the Docker files for the site at ``path``, lint them, then write them (unless dry)."""
    site = load_site(path, build_catalog())
    files = render_bundle(site.folder, site.manifest, wheel or running_wheel(), only=DOCKER_FILES)
    # Lint a copy first, so files that fail their checks never replace working ones.
    with tempfile.TemporaryDirectory(prefix="forkable-docker-") as scratch:
        write_bundle(Path(scratch), files)
        lint = lint_files(Path(scratch), files)
    problems = [f"{r.path}: {problem}" for r in lint for problem in r.problems]
    if problems:
        raise DockerError(problems)
    written = [] if dry_run else write_bundle(site.folder, files)
    return DockerResult(site, files, lint, written, run_commands(site))


def run_commands(site: SiteSource) -> list[str]:
    """What to type to run the site from its folder with Docker Compose."""
    return [
        f"cd {site.folder}",
        "cp -n .env.example .env      # then fill in the secrets it lists",
        "docker compose up --build -d # proxy, web x2, worker, PostgreSQL, Redis, MinIO; "
        "ready in ~1 min",
        "docker compose ps            # every service healthy (migrate and bucket exited 0)",
        "docker compose exec web forkable users create you@example.com --admin",
        "docker compose logs -f web worker",
        "docker compose up -d --scale web=4 --scale worker=3  # more processes, same proxy",
    ]
