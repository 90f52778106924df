"""The fake Vercel's state and answers: projects, env variables, deployments, domains."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from forkable.testing._fake_api import json_reply
from forkable.testing.http import Reply

_NAME = re.compile(r"^[a-z0-9._-]{1,100}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_TYPES = frozenset({"system", "secret", "encrypted", "plain", "sensitive"})
ENV_TARGETS = frozenset({"production", "preview", "development"})
PROJECT_KEYS = frozenset(
    {
        "name",
        "framework",
        "gitRepository",
        "buildCommand",
        "devCommand",
        "installCommand",
        "outputDirectory",
        "rootDirectory",
        "publicSource",
        "serverlessFunctionRegion",
    }
)


def error(status: int, code: str, message: str, **extra: Any) -> Reply:
    """Vercel's error body: `{"error": {"code", "message", ...}}`."""
    return json_reply(status, {"error": {"code": code, "message": message, **extra}})


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass
class FakeDeployment:
    """A deployment and how it will end."""

    data: dict[str, Any]
    polls: int = 0
    error: tuple[str, str] | None = None  # (errorCode, errorMessage) for an ERROR ending


class VercelState:
    """Projects, env variables, deployments and domains, and the answers about them."""

    def __init__(
        self, *, team_id: str | None, user_id: str, ready_after: int, live_url: str | None
    ) -> None:
        self.team_id = team_id
        self.user_id = user_id
        self.ready_after = ready_after  # polls answered BUILDING before the final state
        self.live_url = live_url  # a deployment's `url` is this URL's host
        self.projects: dict[str, dict[str, Any]] = {}  # by id
        self.env: dict[str, dict[str, dict[str, Any]]] = {}  # by project id, then key
        self.env_upserts: list[list[dict[str, Any]]] = []  # every upsert's items, decoded
        self.deployments: dict[str, FakeDeployment] = {}
        self.domains: dict[str, dict[str, Any]] = {}  # by domain name
        self.unverified: set[str] = set()  # domains that will need a TXT record
        self.env_failures: dict[str, tuple[str, str]] = {}
        self.deploy_failures: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    def project(self, id_or_name: str) -> dict[str, Any] | None:
        for project in self.projects.values():
            if id_or_name in (project["id"], project["name"]):
                return project
        return None

    def new_project(self, name: str, repo: str | None, framework: str | None) -> dict[str, Any]:
        project_id = f"prj_{secrets.token_hex(12)}"
        project: dict[str, Any] = {
            "id": project_id,
            "name": name,
            "accountId": self.team_id or self.user_id,
            "framework": framework,
            "createdAt": _ms(),
            "updatedAt": _ms(),
            "latestDeployments": [],
        }
        if repo is not None:
            org, _, repo_name = repo.partition("/")
            project["link"] = {
                "type": "github",
                "org": org,
                "repo": repo_name,
                "repoId": next(self._ids),
                "productionBranch": "main",
                "deployHooks": [],
                "createdAt": _ms(),
            }
        self.projects[project_id] = project
        self.env[project_id] = {}
        return project

    @staticmethod
    def _check_keys(body: dict[str, Any]) -> Reply | None:
        extra = sorted(set(body) - PROJECT_KEYS)
        if extra:
            return error(
                400,
                "bad_request",
                f"Invalid request: should NOT have additional property `{extra[0]}`.",
            )
        return None

    def create_project(self, body: dict[str, Any]) -> Reply:
        problem = self._check_keys(body)
        if problem is not None:
            return problem
        name = body["name"]
        if not isinstance(name, str) or not _NAME.match(name) or "---" in name:
            return error(400, "bad_request", "Invalid request: `name` is not a valid project name.")
        if self.project(name) is not None:
            return error(409, "conflict", f'A project with the name "{name}" already exists.')
        git = body.get("gitRepository")
        repo = None
        if git is not None:
            repo = git["repo"]
            if git.get("type") != "github" or not re.match(r"^[^/\s]+/[^/\s]+$", repo):
                return error(400, "bad_request", "Invalid request: `gitRepository` is invalid.")
        return json_reply(200, self.new_project(name, repo, body.get("framework")))

    def get_project(self, id_or_name: str) -> Reply:
        project = self.project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        return json_reply(200, project)

    def patch_project(self, id_or_name: str, body: dict[str, Any]) -> Reply:
        project = self.project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        problem = self._check_keys(body)
        if problem is not None or "gitRepository" in body:
            return problem or error(
                400,
                "bad_request",
                "Invalid request: should NOT have additional property `gitRepository`.",
            )
        project.update(body)
        project["updatedAt"] = _ms()
        return json_reply(200, project)

    def upsert_env(self, id_or_name: str, body: Any, upsert: bool) -> Reply:
        project = self.project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        items = body if isinstance(body, list) else [body]
        for item in items:
            key, value = item["key"], item["value"]
            targets = item.get("target") or []
            if not isinstance(key, str) or not _ENV_KEY.match(key) or not isinstance(value, str):
                return error(
                    400, "bad_request", "Invalid request: `key` and `value` must be strings"
                )
            if item.get("type") not in ENV_TYPES or not set(targets) <= ENV_TARGETS or not targets:
                return error(
                    400, "bad_request", f"Invalid request: bad `type` or `target` for {key}"
                )
        self.env_upserts.append(items)
        stored = self.env[project["id"]]
        created: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for item in items:
            key = item["key"]
            failure = self.env_failures.get(key)
            if failure is None and key in stored and not upsert:
                failure = ("ENV_ALREADY_EXISTS", f"A variable with the name `{key}` already exists")
            if failure is not None:
                code, message = failure
                failed.append(
                    {
                        "error": {
                            "code": code,
                            "message": message,
                            "key": key,
                            "envVarKey": key,
                            "target": item["target"],
                        }
                    }
                )
                continue
            entry = {
                "id": stored.get(key, {}).get("id") or f"env_{secrets.token_hex(8)}",
                "key": key,
                "value": item["value"],
                "type": item["type"],
                "target": list(item["target"]),
                "updatedAt": _ms(),
            }
            stored[key] = entry
            # Secret values are not echoed back in answers.
            created.append({**entry, "value": "" if entry["type"] != "plain" else entry["value"]})
        return json_reply(201, {"created": created, "failed": failed})

    # -- deployments and domains ----------------------------------------------------------

    def create_deployment(self, body: dict[str, Any]) -> Reply:
        project = self.project(str(body.get("project") or body["name"]))
        if project is None:
            return error(404, "not_found", "Project not found")
        git = body["gitSource"]
        if (
            git.get("type") != "github"
            or not git.get("ref")
            or not (git.get("repoId") or (git.get("org") and git.get("repo")))
        ):
            return error(
                400,
                "bad_request",
                "Invalid request: `gitSource` is missing `ref`, `org` or `repo`.",
            )
        deployment_id = f"dpl_{secrets.token_hex(12)}"
        host = (
            urlsplit(self.live_url).netloc
            if self.live_url
            else f"{project['name']}-{deployment_id[4:13]}.vercel.app"
        )
        data: dict[str, Any] = {
            "id": deployment_id,
            "url": host,
            "name": body["name"],
            "projectId": project["id"],
            "target": body.get("target"),
            "readyState": "QUEUED",
            "status": "QUEUED",
            "alias": [],
            "aliasAssigned": False,
            "createdAt": _ms(),
            "inspectorUrl": f"https://vercel.com/{self.team_id or self.user_id}/{project['name']}/{deployment_id}",
            "gitSource": git,
            "meta": {
                "githubCommitSha": git.get("sha", ""),
                "githubCommitRef": git["ref"],
                "githubOrg": git.get("org", ""),
                "githubRepo": git.get("repo", ""),
            },
        }
        ending = self.deploy_failures.pop(0) if self.deploy_failures else None
        self.deployments[deployment_id] = FakeDeployment(data, error=ending)
        project["latestDeployments"] = [{"id": deployment_id, "createdAt": data["createdAt"]}]
        return json_reply(200, data)

    def get_deployment(self, id_or_url: str) -> Reply:
        found = self.deployments.get(id_or_url) or next(
            (d for d in self.deployments.values() if d.data["url"] == id_or_url), None
        )
        if found is None:
            return error(404, "not_found", "Deployment not found")
        found.polls += 1
        data = found.data
        if data["readyState"] in ("QUEUED", "BUILDING") and found.polls >= self.ready_after:
            if found.error is not None:
                data.update(
                    readyState="ERROR",
                    status="ERROR",
                    errorCode=found.error[0],
                    errorMessage=found.error[1],
                )
            else:
                names = [d for d, v in self.domains.items() if v["projectId"] == data["projectId"]]
                data.update(
                    readyState="READY",
                    status="READY",
                    ready=_ms(),
                    aliasAssigned=True,
                    alias=[f"{data['name']}.vercel.app", *names],
                )
        elif data["readyState"] == "QUEUED":
            data.update(readyState="BUILDING", status="BUILDING")
        return json_reply(200, data)

    def add_domain(self, id_or_name: str, body: dict[str, Any]) -> Reply:
        project = self.project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        name = str(body["name"]).lower()
        if not _DOMAIN.match(name):
            return error(400, "invalid_domain", f"The domain name {name!r} is invalid.")
        existing = self.domains.get(name)
        if existing is not None:
            owner = self.projects[existing["projectId"]]["name"]
            return error(
                409,
                "domain_already_in_use",
                f"Cannot add {name} since it's already in use by your project {owner}.",
                projectId=existing["projectId"],
                domain=existing,
            )
        labels = name.split(".")
        domain: dict[str, Any] = {
            "name": name,
            "apexName": ".".join(labels[-2:]),
            "projectId": project["id"],
            "redirect": None,
            "gitBranch": None,
            "createdAt": _ms(),
            "updatedAt": _ms(),
            "verified": name not in self.unverified,
        }
        if name in self.unverified:
            domain["verification"] = [
                {
                    "type": "TXT",
                    "domain": f"_vercel.{domain['apexName']}",
                    "value": f"vc-domain-verify={name},{secrets.token_hex(8)}",
                    "reason": "pending_domain_verification",
                }
            ]
        self.domains[name] = domain
        return json_reply(200, domain)

    def get_domain(self, id_or_name: str, name: str) -> Reply:
        project = self.project(id_or_name)
        domain = self.domains.get(name.lower())
        if project is None or domain is None or domain["projectId"] != project["id"]:
            return error(404, "not_found", "The domain was not found on this project")
        return json_reply(200, domain)
