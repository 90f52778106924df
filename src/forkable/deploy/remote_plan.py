"""Dry runs of remote deploys: every API call a real run may make, with no secrets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from forkable.deploy.github import plan_repository, plan_secrets
from forkable.deploy.http_retry import PlannedCall
from forkable.deploy.remote_bundle import SiteBundle
from forkable.deploy.remote_settings import RemoteSettings
from forkable.deploy.vercel import SERVICE as VERCEL
from forkable.deploy.vercel import plan_find_project, plan_project, plan_vercel
from forkable.manifest.schema import SiteTable


def planned_calls(
    target: str, settings: RemoteSettings, site: SiteTable, files: int, secrets: Sequence[str]
) -> list[PlannedCall]:
    """The calls in the order a real run makes them; conditional ones say when."""
    owner = settings.github_owner
    team = settings.vercel_team_id
    actions = list(secrets)
    if settings.vercel_token or target == "vercel":
        actions.append("VERCEL_TOKEN")
    calls = plan_repository(owner, site.id, files)
    if target == "github":
        if settings.vercel_token:
            calls += plan_find_project(site.id, team)
            actions += ["VERCEL_ORG_ID", "VERCEL_PROJECT_ID"]
        return calls + plan_secrets(owner, site.id, actions)
    repo = f"{owner or '{owner}'}/{site.id}"
    actions += ["VERCEL_ORG_ID", "VERCEL_PROJECT_ID"]
    project = plan_project(site.id, team, repo)
    rest = plan_vercel(team, list(secrets), site.domain)
    live = f"{settings.live_scheme}://{{deployment url}}"
    smoke = [PlannedCall("site", "GET", f"{live}{p}", "smoke test") for p in ("/healthz", "/")]
    return calls + project + plan_secrets(owner, site.id, actions) + rest + smoke


def print_plan(
    target: str,
    settings: RemoteSettings,
    site: SiteTable,
    bundle: SiteBundle,
    secrets: Mapping[str, str],
    echo: Callable[[str], None],
) -> None:
    """Print what a real run would send where; make no call."""
    files = bundle.files
    calls = planned_calls(target, settings, site, len(files), list(secrets))
    bases = {"GitHub": settings.github_api, VERCEL: settings.vercel_api, "site": ""}
    echo(f"dry run: deploy {site.id} to {target}; no API call is made")
    echo(f"files to push ({len(files)}): {', '.join(f.path for f in files)}")
    if bundle.skipped:
        # Named, never read: a skipped file may hold a secret.
        echo(f"not pushed ({len(bundle.skipped)}): {'; '.join(map(str, bundle.skipped))}")
    echo(f"secrets from .env (names only): {', '.join(secrets) or 'none'}")
    echo("it would call:")
    for call in calls:
        note = f"  # {call.note}" if call.note else ""
        echo(f"  {call.method:<6} {bases[call.service]}{call.path}{note}")
    if not settings.github_token:
        echo("note: GITHUB_TOKEN is not set; a real run needs it")
    if target == "vercel" and not settings.vercel_token:
        echo("note: VERCEL_TOKEN is not set; a real run needs it")
