"""Remote deploys to GitHub (and Vercel): the steps in order, timed, and what a failure left.

This returns what it made and raises `RemoteDeployError` (or `ManifestError` for a site that
fails its checks); `forkable.cli.remote_deploy` prints and exits.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from forkable import __version__
from forkable.deploy.bundle import GITHUB_FILES, VERCEL_FILES, render_bundle, write_bundle
from forkable.deploy.github import GitHub, PushResult, Repository, github_client
from forkable.deploy.http_retry import RemoteDeployError, WaitBudget
from forkable.deploy.install_size import measure_site, size_lines
from forkable.deploy.remote_bundle import SiteBundle, SiteFile, site_bundle, site_secrets
from forkable.deploy.remote_plan import print_plan
from forkable.deploy.remote_settings import RemoteSettings
from forkable.deploy.vercel import (
    Deployment,
    DomainResult,
    Project,
    Vercel,
    live_url,
    smoke_test,
    vercel_client,
)
from forkable.deploy.wheel import VENDOR_DIR, WheelError, running_wheel
from forkable.manifest import SiteSource, load_site
from forkable.providers.catalog import build_catalog

TARGETS = ("github", "vercel")
T = TypeVar("T")
Echo = Callable[[str], None]

# The steps a target runs, in order, with what each is called in "not done yet".
_STEPS = {
    "github": [
        ("github repository", "repository"),
        ("github push", "files on main"),
        ("github secrets", "Actions secrets"),
    ],
    "vercel": [
        ("github repository", "repository"),
        ("github push", "files on main"),
        ("vercel project", "Vercel project"),
        ("github secrets", "Actions secrets"),
        ("vercel env", "Vercel environment variables"),
        ("vercel deployment", "production deployment"),
        ("vercel domain", "domain"),
        ("vercel ready", "deployment ready"),
        ("smoke test", "smoke test"),
    ],
}


class StepFailed(RemoteDeployError):
    """A step failed; carries what already exists and what was not done."""

    def __init__(self, step: str, cause: Exception, done: list[str], pending: list[str]) -> None:
        super().__init__(f"step '{step}' failed: {cause}")
        self.step = step
        self.cause = cause
        self.done = list(done)
        self.pending = list(pending)

    def progress_lines(self) -> list[str]:
        lines = [f"already done: {'; '.join(self.done) if self.done else 'nothing'}"]
        if self.pending:
            lines.append(f"not done yet: {', '.join(self.pending)}")
        return lines


@dataclass
class RemoteResult:
    """What a remote deploy made or found."""

    repository: Repository | None = None
    push: PushResult | None = None
    project: Project | None = None
    deployment: Deployment | None = None
    domain: DomainResult | None = None
    secrets: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)


class _Steps:
    """Runs steps with timing; remembers what exists for the failure message."""

    def __init__(self, target: str, echo: Echo) -> None:
        self.echo = echo
        self._pending = dict(_STEPS[target])
        self._done: list[str] = []

    def run(
        self,
        name: str,
        action: Callable[[], T],
        say: Callable[[T], str],
        fact: Callable[[T], str | None] = lambda _r: None,
    ) -> T:
        started = time.monotonic()
        try:
            result = action()
        except RemoteDeployError as exc:
            raise self._failed(name, exc) from exc
        except (KeyError, TypeError, ValueError) as exc:
            # An answer without the fields the documented API promises.
            cause = RemoteDeployError(f"unexpected answer: {type(exc).__name__}: {exc}")
            raise self._failed(name, cause) from exc
        self.echo(f"{name}: {say(result)} ({time.monotonic() - started:.2f} s)")
        self._pending.pop(name, None)
        text = fact(result)
        if text:
            self._done.append(text)
        return result

    def _failed(self, name: str, cause: Exception) -> StepFailed:
        return StepFailed(name, cause, self._done, list(self._pending.values()))


def _stdout_line(line: str) -> None:
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


def deploy_remote(
    path: Path,
    target: str,
    settings: RemoteSettings,
    *,
    dry_run: bool = False,
    echo: Echo = _stdout_line,
) -> RemoteResult | None:
    """Ship ``path`` to GitHub (and Vercel); None for a dry run; raise RemoteDeployError."""
    # Without an ``echo`` the progress lines go to stdout, as the command prints them.
    # The CLI's `deploy` and `fork --deploy` both call this and handle the errors themselves.
    if target not in TARGETS:
        raise RemoteDeployError(f"unknown remote target {target!r}: use github or vercel")
    source = load_site(path, build_catalog())  # the checks `forkable check` makes
    if not dry_run:
        # A folder that was never forked lacks the Vercel entry point, the workflow and the
        # vendored wheel; a forked one gets them refreshed for the running forkable.
        only = VERCEL_FILES + GITHUB_FILES
        write_bundle(
            source.folder, render_bundle(source.folder, source.manifest, running_wheel(), only=only)
        )
    bundle = site_bundle(source.folder, source.manifest)
    files = bundle.files
    secrets = site_secrets(source.folder)
    if dry_run:
        print_plan(target, settings, source.manifest.site, bundle, secrets, echo)
        if target == "vercel":
            for line in function_size_lines(source, bundle):
                echo(line)
        return None
    missing = [] if settings.github_token else ["GITHUB_TOKEN"]
    if target == "vercel" and not settings.vercel_token:
        missing.append("VERCEL_TOKEN")
    if missing:
        raise RemoteDeployError(
            f"{' and '.join(missing)} must be set to deploy to {target} "
            "(see docs/deployment-remote.md)"
        )
    started = time.monotonic()
    echo(f"deploying {source.manifest.site.id} ({len(files)} files) to {target}")
    if bundle.skipped:
        echo(f"not pushed ({len(bundle.skipped)}): {'; '.join(map(str, bundle.skipped))}")
    with ExitStack() as stack:
        result = _Deploy(source, target, settings, echo, stack).run(files, secrets)
    echo(f"done in {time.monotonic() - started:.1f} s")
    return result


def function_size_lines(source: SiteSource, bundle: SiteBundle) -> list[str]:
    """The installed size of the site's Vercel function (docs/deployment.md says how measured)."""
    try:
        wheel = running_wheel()
    except WheelError as exc:
        return [f"function size: not measured ({exc})"]
    site_files = sum(len(f.data) for f in bundle.files if not f.path.startswith(f"{VENDOR_DIR}/"))
    size = measure_site(source.manifest, wheel, site_files=site_files)
    return size_lines(size, source.manifest)


class _Deploy:
    """One run's clients, steps and results."""

    def __init__(
        self,
        source: SiteSource,
        target: str,
        settings: RemoteSettings,
        echo: Echo,
        stack: ExitStack,
    ) -> None:
        self.site = source.manifest.site
        self.target = target
        self.settings = settings
        self.steps = _Steps(target, echo)
        self.result = RemoteResult()
        budget = WaitBudget(settings.max_rate_limit_wait)  # shared: one cap for the whole run
        self.github = GitHub(
            stack.enter_context(
                github_client(settings.github_api, settings.github_token or "", budget, echo)
            )
        )
        self.vercel: Vercel | None = None
        if settings.vercel_token:
            self.vercel = Vercel(
                stack.enter_context(
                    vercel_client(
                        settings.vercel_api,
                        settings.vercel_token,
                        settings.vercel_team_id,
                        budget,
                        echo,
                    )
                )
            )

    def run(self, files: list[SiteFile], secrets: Mapping[str, str]) -> RemoteResult:
        repo, push = self._repository(files)
        actions = dict(secrets)
        if self.settings.vercel_token:
            actions["VERCEL_TOKEN"] = self.settings.vercel_token  # for Actions that deploy
        project = self._project(repo)
        if project is not None:
            org_id = self.settings.vercel_team_id or project.account_id
            if org_id:
                actions["VERCEL_ORG_ID"] = org_id
            actions["VERCEL_PROJECT_ID"] = project.id
        self.result.secrets = self.steps.run(
            "github secrets",
            lambda: self.github.set_secrets(repo, actions),
            lambda names: f"{len(names)} set: {', '.join(names)}" if names else "none to set",
            lambda names: f"{len(names)} Actions secrets set" if names else None,
        )
        if self.target == "vercel" and project is not None:
            self._vercel(repo, push, project, secrets)
        return self.result

    def _repository(self, files: list[SiteFile]) -> tuple[Repository, PushResult]:
        owner = self.settings.github_owner
        owner_is_user: bool | None = None
        if owner is None:
            owner = self.steps.run(
                "github owner", self.github.login, lambda login: f"{login} (the token's user)"
            )
            owner_is_user = True
        site = self.site
        repo = self.steps.run(
            "github repository",
            lambda: self.github.ensure_repository(
                owner,
                site.id,
                description=f"{site.name}: {site.tagline}"[:350],
                owner_is_user=owner_is_user,
            ),
            lambda r: f"{r.full_name} {'created (private)' if r.created else 'exists, reused'}",
            lambda r: f"repository {r.full_name} exists",
        )
        self.result.repository = repo
        push = self.steps.run(
            "github push",
            lambda: self.github.push(
                repo,
                files,
                # [skip ci]: this run deploys and smoke-tests itself; the workflow need not.
                message=f"Deploy {site.name} with forkable {__version__} [skip ci]",
                readme=f"# {site.name}\n\n{site.tagline}\n",
            ),
            _say_push,
            lambda p: f"main at {p.commit[:7]} ({p.files} files)",
        )
        self.result.push = push
        self.steps.echo(f"repository: {repo.html_url}")
        return repo, push

    def _project(self, repo: Repository) -> Project | None:
        """The Vercel project: made or updated for `vercel`; only looked up for `github`."""
        vercel = self.vercel
        if vercel is None:
            return None
        project: Project | None
        if self.target == "vercel":
            project = self.steps.run(
                "vercel project",
                lambda: vercel.ensure_project(self.site.id, repo.full_name),
                lambda p: (
                    f"{p.name} {'created' if p.created else 'updated'}, linked to {repo.full_name}"
                ),
                lambda p: f"Vercel project {p.name} exists",
            )
        else:
            # Its ids let the Actions workflow deploy. Only a nicety for `github`: a missing
            # project or a Vercel problem must not fail a GitHub deploy.
            try:
                project = self.steps.run(
                    "vercel lookup",
                    lambda: vercel.find_project(self.site.id),
                    lambda p: f"project {p.name} ({p.id})" if p else "no Vercel project yet",
                )
            except StepFailed as exc:
                self.steps.echo(f"vercel lookup: skipped, {exc.cause}")
                project = None
        self.result.project = project
        return project

    def _vercel(
        self, repo: Repository, push: PushResult, project: Project, secrets: Mapping[str, str]
    ) -> None:
        vercel, steps, settings = self.vercel, self.steps, self.settings
        if vercel is None:  # a vercel target always has a token; keeps mypy informed
            raise RemoteDeployError("VERCEL_TOKEN must be set to deploy to vercel")
        # Not secrets, but what makes the deployment a production one (and its guard active).
        env = {"FORKABLE_ENV": "production", **secrets}
        self.result.env = steps.run(
            "vercel env",
            lambda: vercel.upsert_env(project, env),
            lambda keys: f"{len(keys)} upserted: {', '.join(keys)}" if keys else "no .env values",
            lambda keys: f"{len(keys)} Vercel env vars upserted" if keys else None,
        )
        deployment = steps.run(
            "vercel deployment",
            lambda: vercel.create_deployment(project, repo.owner, repo.name, push.commit),
            lambda d: f"{d.id} created for commit {push.commit[:7]} ({d.ready_state})",
            lambda d: f"deployment {d.id} created",
        )
        self.result.domain = steps.run(
            "vercel domain",
            lambda: vercel.attach_domain(project, self.site.domain),
            _say_domain,
            lambda d: f"domain {d.name} on the project",
        )
        ready = steps.run(
            "vercel ready",
            lambda: vercel.wait_ready(
                deployment,
                timeout=settings.deploy_timeout,
                interval=settings.poll_interval,
                on_state=lambda state: steps.echo(f"vercel deployment: {deployment.id} {state}"),
            ),
            lambda d: f"{d.id} READY at {live_url(d.url, settings.live_scheme)}",
            lambda d: f"deployment {d.id} READY",
        )
        self.result.deployment = ready
        url = live_url(ready.url, settings.live_scheme)
        steps.run("smoke test", lambda: smoke_test(url, self.site.name), lambda summary: summary)
        steps.echo(f"live: {url} and https://{self.site.domain}")


def _say_push(push: PushResult) -> str:
    if not push.changed:
        return f"unchanged, main already at {push.commit[:7]} ({push.files} files)"
    first = "initialised the empty repository, then " if push.initialised else ""
    return (
        f"{first}commit {push.commit[:7]} on main: {push.files} files, "
        f"{push.uploaded} uploaded, {push.files - push.uploaded} already there"
    )


def _say_domain(domain: DomainResult) -> str:
    text = f"{domain.name} {'attached' if domain.added else 'already on the project'}"
    if domain.verified:
        return f"{text}, verified"
    todo = "; ".join(domain.instructions) or "see the project's Domains page"
    return f"{text}, NOT verified yet: {todo}"
