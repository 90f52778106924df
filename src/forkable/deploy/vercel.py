"""Vercel: the project linked to the site's repository, its env, deployment, domain, smoke test."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from forkable.deploy.http_retry import (
    USER_AGENT,
    ApiClient,
    PlannedCall,
    RemoteDeployError,
    WaitBudget,
    vercel_error,
    vercel_rate_limit,
)

SERVICE = "Vercel"
ENV_TARGETS = ("production", "preview")
FAILED_STATES = frozenset({"ERROR", "CANCELED"})
SMOKE_TIMEOUT = 30.0  # a fresh deployment may answer 5xx for a few seconds while it warms up


class EnvUpsertFailed(RemoteDeployError):
    """Vercel stored some environment variables but refused others."""


class DeploymentFailed(RemoteDeployError):
    """The deployment ended in ERROR or CANCELED, or was not ready in time."""


class SmokeTestFailed(RemoteDeployError):
    """The live site did not answer as a forkable site should."""


def vercel_client(
    base_url: str,
    token: str,
    team_id: str | None,
    budget: WaitBudget,
    notify: Callable[[str], None],
) -> ApiClient:
    """An ApiClient for Vercel's REST API; a team id goes on every call."""
    return ApiClient(
        service=SERVICE,
        base_url=base_url,
        token=token,
        rate_limit=vercel_rate_limit,
        describe=vercel_error,
        budget=budget,
        notify=notify,
        params={"teamId": team_id} if team_id else None,
    )


@dataclass(frozen=True)
class Project:
    """A Vercel project linked to the site's repository."""

    id: str
    name: str
    account_id: str
    created: bool


@dataclass(frozen=True)
class Deployment:
    """A deployment as Vercel last described it."""

    id: str
    url: str
    ready_state: str
    inspector_url: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class DomainResult:
    """A domain on the project; unverified domains carry Vercel's instructions."""

    name: str
    added: bool  # False: the project already had it
    verified: bool
    instructions: tuple[str, ...] = ()


def _json(response: httpx.Response) -> dict[str, Any]:
    data = response.json()
    if not isinstance(data, dict):
        raise RemoteDeployError(f"{SERVICE} answered with unexpected JSON: {type(data).__name__}")
    return data


def _deployment(data: Mapping[str, Any]) -> Deployment:
    state = str(data.get("readyState") or data.get("status") or "QUEUED")
    error = None
    if data.get("errorCode") or data.get("errorMessage"):
        error = ": ".join(str(p) for p in (data.get("errorCode"), data.get("errorMessage")) if p)
    return Deployment(
        id=str(data["id"]),
        url=str(data.get("url") or ""),
        ready_state=state,
        inspector_url=data.get("inspectorUrl"),
        error=error,
    )


class Vercel:
    """The Vercel steps of a deploy."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def find_project(self, name: str) -> Project | None:
        """The project called ``name``, or None when there is none yet."""
        path = f"/v9/projects/{name}"
        found = self.api.send("GET", path)
        if found.status_code == 404:
            return None
        if found.status_code != 200:
            raise self.api.error("GET", path, found)
        return self._project(_json(found), created=False)

    def ensure_project(self, name: str, repo: str) -> Project:
        """Create the project linked to ``repo`` ("owner/name"), or update the existing one."""
        path = f"/v9/projects/{name}"
        found = self.api.send("GET", path)
        if found.status_code == 404:
            body = {
                "name": name,
                "framework": None,  # a Python app, not a framework Vercel should detect
                "gitRepository": {"type": "github", "repo": repo},
            }
            created = self.api.send("POST", "/v11/projects", json=body)
            if created.status_code in (200, 201):
                return self._project(_json(created), created=True)
            if created.status_code != 409:
                raise self.api.error("POST", "/v11/projects", created)
            found = self.api.send("GET", path)  # made meanwhile: update it below
        if found.status_code != 200:
            raise self.api.error("GET", path, found)
        existing = _json(found)
        self._check_link(existing, repo)
        updated = self.api.call("PATCH", f"/v9/projects/{existing['id']}", json={"framework": None})
        return self._project(_json(updated), created=False)

    @staticmethod
    def _project(data: Mapping[str, Any], *, created: bool) -> Project:
        return Project(
            id=str(data["id"]),
            name=str(data["name"]),
            account_id=str(data.get("accountId") or ""),
            created=created,
        )

    @staticmethod
    def _check_link(project: Mapping[str, Any], repo: str) -> None:
        link = project.get("link") or {}
        linked = f"{link.get('org', '')}/{link.get('repo', '')}"
        if link.get("type") == "github" and linked.lower() == repo.lower():
            return
        where = f"linked to {link.get('type')} {linked}" if link else "not linked to a repository"
        raise RemoteDeployError(
            f"Vercel project {project.get('name')} exists but is {where}, not github {repo}: "
            "connect it to that repository in the Vercel dashboard (Settings > Git) or delete it"
        )

    def upsert_env(self, project: Project, values: Mapping[str, str]) -> list[str]:
        """Create or update each variable, encrypted, for production and preview."""
        if not values:
            return []
        body = [
            {"key": key, "value": value, "type": "encrypted", "target": list(ENV_TARGETS)}
            for key, value in values.items()
        ]
        answer = _json(
            self.api.call(
                "POST",
                f"/v10/projects/{project.id}/env",
                params={"upsert": "true"},
                json=body,
                ok=(200, 201),
            )
        )
        failed = [entry.get("error") or {} for entry in answer.get("failed") or []]
        if failed:
            problems = "; ".join(
                f"{e.get('key') or e.get('envVarKey') or '?'}: {e.get('code', 'error')}: "
                f"{e.get('message', 'no message')}"
                for e in failed
            )
            raise EnvUpsertFailed(
                f"Vercel refused {len(failed)} of {len(body)} environment variables: {problems}"
            )
        return list(values)

    def create_deployment(self, project: Project, org: str, repo: str, sha: str) -> Deployment:
        """A production deployment of commit ``sha`` on main."""
        body = {
            "name": project.name,
            "project": project.id,
            "target": "production",
            "gitSource": {"type": "github", "org": org, "repo": repo, "ref": "main", "sha": sha},
        }
        # Not retried on a 5xx: a second POST could start a second deployment.
        answer = self.api.call(
            "POST", "/v13/deployments", json=body, ok=(200, 201), retry_transient=False
        )
        return _deployment(_json(answer))

    def attach_domain(self, project: Project, domain: str) -> DomainResult:
        """Add ``domain`` to the project; a domain the project already has is fine."""
        path = f"/v10/projects/{project.id}/domains"
        added = self.api.send("POST", path, json={"name": domain})
        if added.status_code in (200, 201):
            return self._domain(_json(added), added=True)
        error = self.api.error("POST", path, added)
        if added.status_code not in (400, 409):
            raise error
        # 409 domain_already_in_use (or 400 when already there): is it on this project?
        mine = self.api.send("GET", f"/v9/projects/{project.id}/domains/{domain}")
        if mine.status_code == 200:
            return self._domain(_json(mine), added=False)
        raise error

    @staticmethod
    def _domain(data: Mapping[str, Any], *, added: bool) -> DomainResult:
        steps = tuple(
            f"{v.get('type')} record {v.get('domain')} = {v.get('value')}"
            for v in data.get("verification") or []
            if isinstance(v, dict)
        )
        return DomainResult(str(data["name"]), added, bool(data.get("verified")), steps)

    def wait_ready(
        self,
        deployment: Deployment,
        *,
        timeout: float,
        interval: float,
        on_state: Callable[[str], None],
    ) -> Deployment:
        """Poll until READY; raise DeploymentFailed on ERROR, CANCELED or timeout."""
        deadline = time.monotonic() + timeout
        state = deployment.ready_state
        current = deployment
        while True:
            current = _deployment(_json(self.api.call("GET", f"/v13/deployments/{deployment.id}")))
            if current.ready_state != state:
                state = current.ready_state
                on_state(state)
            if state == "READY":
                return current
            if state in FAILED_STATES:
                where = f"; logs: {current.inspector_url}" if current.inspector_url else ""
                raise DeploymentFailed(
                    f"deployment {current.id} ended {state}: {current.error or 'no reason given'}"
                    f"{where}"
                )
            if time.monotonic() >= deadline:
                raise DeploymentFailed(
                    f"deployment {current.id} not ready after {timeout:.0f} s (still {state}); "
                    "raise FORKABLE_VERCEL_DEPLOY_TIMEOUT or check the Vercel dashboard"
                )
            time.sleep(interval)


def live_url(deployment_url: str, scheme: str) -> str:
    """The deployment's URL; Vercel gives a bare host name."""
    if "://" in deployment_url:
        return deployment_url.rstrip("/")
    return f"{scheme}://{deployment_url}".rstrip("/")


def smoke_test(url: str, site_name: str, *, timeout: float = SMOKE_TIMEOUT) -> str:
    """Check `/healthz` answers 200 and `/` shows the site's name; return a summary."""
    deadline = time.monotonic() + timeout
    # No Authorization header: the Vercel token must never go to the site itself.
    with httpx.Client(
        base_url=url, timeout=10.0, follow_redirects=True, headers={"user-agent": USER_AGENT}
    ) as client:
        health = _get_settled(client, "/healthz", deadline)
        if health.status_code != 200:
            raise SmokeTestFailed(_smoke_problem(url, "/healthz", health))
        landing = _get_settled(client, "/", deadline)
        if landing.status_code != 200:
            raise SmokeTestFailed(_smoke_problem(url, "/", landing))
        if html.escape(site_name) not in landing.text and site_name not in landing.text:
            raise SmokeTestFailed(
                f"smoke test of {url}: the landing page does not show the site's name {site_name!r}"
            )
    return f"/healthz 200, / shows {site_name!r}"


def _get_settled(client: httpx.Client, path: str, deadline: float) -> httpx.Response:
    while True:
        try:
            response = client.get(path)
        except httpx.TransportError as exc:
            if time.monotonic() >= deadline:
                raise SmokeTestFailed(
                    f"smoke test: {client.base_url}{path} unreachable: {type(exc).__name__}"
                ) from None
        else:
            if response.status_code < 500 or time.monotonic() >= deadline:
                return response
        time.sleep(1.0)


def _smoke_problem(url: str, path: str, response: httpx.Response) -> str:
    hint = ""
    if response.status_code in (401, 403):
        hint = " (Vercel deployment protection? allow public access to production deployments)"
    return f"smoke test of {url}: GET {path} answered {response.status_code}{hint}"


def _query(path: str, team_id: str | None, *extra: str) -> str:
    # httpx sends the client's teamId before a call's own parameters: list them that way.
    query = "&".join(p for p in (f"teamId={team_id}" if team_id else "", *extra) if p)
    return f"{path}?{query}" if query else path


def plan_find_project(name: str, team_id: str | None) -> list[PlannedCall]:
    """The lookup a `github` deploy makes when VERCEL_TOKEN is set, for a dry run."""
    path = _query(f"/v9/projects/{name}", team_id)
    return [PlannedCall(SERVICE, "GET", path, "its ids for the Actions secrets, if it exists")]


def plan_project(name: str, team_id: str | None, repo: str) -> list[PlannedCall]:
    """The calls `ensure_project` may make, for a dry run."""
    return [
        PlannedCall(SERVICE, "GET", _query(f"/v9/projects/{name}", team_id), "does it exist?"),
        PlannedCall(
            SERVICE, "POST", _query("/v11/projects", team_id), f"if missing: create, link {repo}"
        ),
        PlannedCall(
            SERVICE, "PATCH", _query("/v9/projects/{projectId}", team_id), "else: update it"
        ),
    ]


def plan_vercel(team_id: str | None, env_names: Sequence[str], domain: str) -> list[PlannedCall]:
    """The calls after the project (env, deployment, domain, polling), for a dry run."""
    project = "/v9/projects/{projectId}"
    calls: list[PlannedCall] = []
    if env_names:
        path = _query("/v10/projects/{projectId}/env", team_id, "upsert=true")
        calls.append(PlannedCall(SERVICE, "POST", path, "upsert " + ", ".join(env_names)))
    calls += [
        PlannedCall(
            SERVICE, "POST", _query("/v13/deployments", team_id), "production deployment of main"
        ),
        PlannedCall(
            SERVICE, "POST", _query("/v10/projects/{projectId}/domains", team_id), f"add {domain}"
        ),
        PlannedCall(
            SERVICE,
            "GET",
            _query(f"{project}/domains/{domain}", team_id),
            "if refused: is it already on this project?",
        ),
        PlannedCall(
            SERVICE, "GET", _query("/v13/deployments/{deploymentId}", team_id), "until READY"
        ),
    ]
    return calls
