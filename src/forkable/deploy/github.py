"""GitHub: the site's repository, its files as one commit on main, its Actions secrets."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nacl.public import PublicKey, SealedBox

from forkable.deploy.http_retry import (
    ApiClient,
    PlannedCall,
    RemoteDeployError,
    WaitBudget,
    github_error,
    github_rate_limit,
)
from forkable.deploy.remote_bundle import SiteFile

SERVICE = "GitHub"
BRANCH = "main"
API_VERSION = "2022-11-28"


def github_client(
    base_url: str, token: str, budget: WaitBudget, notify: Callable[[str], None]
) -> ApiClient:
    """An ApiClient speaking GitHub's REST API with its rate-limit rules."""
    return ApiClient(
        service=SERVICE,
        base_url=base_url,
        token=token,
        rate_limit=github_rate_limit,
        describe=github_error,
        budget=budget,
        notify=notify,
        headers={"accept": "application/vnd.github+json", "x-github-api-version": API_VERSION},
    )


@dataclass(frozen=True)
class Repository:
    """A repository this run may push to."""

    owner: str
    name: str
    html_url: str
    created: bool
    private: bool

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class PushResult:
    """What a push did: the commit now at the head of main and how it got there."""

    commit: str
    parent: str | None
    changed: bool  # False: main already held exactly these files, no commit was made
    uploaded: int  # blobs sent; files GitHub already had are not sent again
    files: int
    initialised: bool  # the repository was empty and got a first README commit


def _json(response: Any) -> dict[str, Any]:
    data = response.json()
    if not isinstance(data, dict):
        raise RemoteDeployError(f"{SERVICE} answered with unexpected JSON: {type(data).__name__}")
    return data


class GitHub:
    """The GitHub steps of a deploy, each a few REST calls through one ApiClient."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def login(self) -> str:
        """The login of the token's user."""
        return str(_json(self.api.call("GET", "/user"))["login"])

    def ensure_repository(
        self, owner: str, name: str, *, description: str, owner_is_user: bool | None = None
    ) -> Repository:
        """Reuse ``owner/name`` when this token administers it; otherwise create it, private."""
        path = f"/repos/{owner}/{name}"
        found = self.api.send("GET", path)
        if found.status_code == 200:
            return self._reuse(_json(found))
        if found.status_code != 404:
            raise self.api.error("GET", path, found)
        if owner_is_user is None:
            owner_is_user = self.login().lower() == owner.lower()
        create = "/user/repos" if owner_is_user else f"/orgs/{owner}/repos"
        body = {"name": name, "description": description, "private": True, "auto_init": False}
        created = self.api.send("POST", create, json=body)
        if created.status_code == 201:
            data = _json(created)
            return Repository(
                owner=data["owner"]["login"],
                name=data["name"],
                html_url=data["html_url"],
                created=True,
                private=bool(data.get("private")),
            )
        error = self.api.error("POST", create, created)
        if created.status_code == 422 and "already exists" in error.message:
            # Created meanwhile, or there but hidden from this token: look once more.
            again = self.api.send("GET", path)
            if again.status_code == 200:
                return self._reuse(_json(again))
            raise RemoteDeployError(
                f"repository {owner}/{name} exists but this token cannot see it ({error})"
            )
        raise error

    def _reuse(self, data: dict[str, Any]) -> Repository:
        full_name = str(data["full_name"])
        permissions = data.get("permissions") or {}
        if not permissions.get("admin"):
            raise RemoteDeployError(
                f"repository {full_name} exists but is not ours: this token has no admin rights on "
                "it (needed to push and set secrets); use another site id or FORKABLE_GITHUB_OWNER"
            )
        if data.get("archived"):
            raise RemoteDeployError(f"repository {full_name} is archived: unarchive it first")
        return Repository(
            owner=data["owner"]["login"],
            name=data["name"],
            html_url=data["html_url"],
            created=False,
            private=bool(data.get("private")),
        )

    def push(
        self, repo: Repository, files: Sequence[SiteFile], *, message: str, readme: str
    ) -> PushResult:
        """Make main hold exactly ``files`` in one new commit (none when nothing changed)."""
        base = f"/repos/{repo.full_name}"
        head, ref_exists, initialised = self._head(base, readme)
        remote: dict[str, tuple[str, str]] = {}
        if head is not None:
            remote = self._tree_of(base, head)
        local = {f.path: (f.mode, f.blob_sha) for f in files}
        if head is not None and remote == local:
            return PushResult(head, None, False, 0, len(files), initialised)

        known = {sha for _mode, sha in remote.values()}
        shas: dict[str, str] = {}
        uploaded = 0
        for file in files:
            if file.blob_sha in known:
                shas[file.path] = file.blob_sha
                continue
            blob = self.api.call(
                "POST",
                f"{base}/git/blobs",
                json={"content": base64.b64encode(file.data).decode(), "encoding": "base64"},
                ok=(201,),
            )
            shas[file.path] = str(_json(blob)["sha"])
            known.add(shas[file.path])
            uploaded += 1
        entries = [
            {"path": f.path, "mode": f.mode, "type": "blob", "sha": shas[f.path]} for f in files
        ]
        # No base_tree: the new tree is the folder exactly, so deleted files go away too.
        tree = self.api.call("POST", f"{base}/git/trees", json={"tree": entries}, ok=(201,))
        parents = [head] if head is not None else []
        commit = self.api.call(
            "POST",
            f"{base}/git/commits",
            json={"message": message, "tree": _json(tree)["sha"], "parents": parents},
            ok=(201,),
        )
        sha = str(_json(commit)["sha"])
        if ref_exists:
            self.api.call(
                "PATCH", f"{base}/git/refs/heads/{BRANCH}", json={"sha": sha, "force": False}
            )
        else:
            self.api.call(
                "POST",
                f"{base}/git/refs",
                json={"ref": f"refs/heads/{BRANCH}", "sha": sha},
                ok=(201,),
            )
        return PushResult(sha, head, True, uploaded, len(files), initialised)

    def _head(self, base: str, readme: str) -> tuple[str | None, bool, bool]:
        """(head commit of main or None, whether the ref exists, whether we initialised)."""
        path = f"{base}/git/ref/heads/{BRANCH}"
        ref = self.api.send("GET", path)
        if ref.status_code == 200:
            return (str(_json(ref)["object"]["sha"]), True, False)
        if ref.status_code == 404:
            return (None, False, False)
        if ref.status_code != 409:
            raise self.api.error("GET", path, ref)
        # An empty repository refuses the Git data API (409) until it has a first commit.
        init = self.api.call(
            "PUT",
            f"{base}/contents/README.md",
            json={
                "message": "Initialise the repository",
                "content": base64.b64encode(readme.encode()).decode(),
            },
            ok=(200, 201),
        )
        first = str(_json(init)["commit"]["sha"])
        again = self.api.send("GET", path)
        if again.status_code == 200:
            return (str(_json(again)["object"]["sha"]), True, True)
        if again.status_code == 404:
            return (first, False, True)  # the default branch is not main: main starts here
        raise self.api.error("GET", path, again)

    def _tree_of(self, base: str, commit: str) -> dict[str, tuple[str, str]]:
        """The files of ``commit`` as {path: (mode, blob sha)}; empty when GitHub truncates."""
        tree_sha = _json(self.api.call("GET", f"{base}/git/commits/{commit}"))["tree"]["sha"]
        listing = _json(
            self.api.call("GET", f"{base}/git/trees/{tree_sha}", params={"recursive": "1"})
        )
        if listing.get("truncated"):
            return {}  # too big to compare: upload everything, still correct
        return {
            str(entry["path"]): (str(entry["mode"]), str(entry["sha"]))
            for entry in listing.get("tree", [])
            if entry.get("type") == "blob"
        }

    def set_secrets(self, repo: Repository, secrets: Mapping[str, str]) -> list[str]:
        """Seal each value with the repository's public key and store it as an Actions secret."""
        if not secrets:
            return []
        base = f"/repos/{repo.full_name}/actions/secrets"
        key = _json(self.api.call("GET", f"{base}/public-key"))
        box = SealedBox(PublicKey(base64.b64decode(key["key"])))
        for name, value in secrets.items():
            sealed = base64.b64encode(box.encrypt(value.encode())).decode()
            self.api.call(
                "PUT",
                f"{base}/{name}",
                json={"encrypted_value": sealed, "key_id": key["key_id"]},
                ok=(201, 204),
            )
        return list(secrets)


def plan_repository(owner: str | None, name: str, files: int) -> list[PlannedCall]:
    """The calls `ensure_repository` and `push` may make, for a dry run."""
    who = owner or "{owner}"
    base = f"/repos/{who}/{name}"
    calls: list[PlannedCall] = []
    if owner is None:
        calls.append(PlannedCall(SERVICE, "GET", "/user", "the owner: FORKABLE_GITHUB_OWNER unset"))
    calls.append(PlannedCall(SERVICE, "GET", base, "does the repository exist, is it ours?"))
    if owner is not None:
        calls.append(
            PlannedCall(SERVICE, "GET", "/user", "if missing: is the owner the token's user?")
        )
    calls += [
        PlannedCall(SERVICE, "POST", "/user/repos", "if missing: create it, private"),
        PlannedCall(SERVICE, "POST", f"/orgs/{who}/repos", "instead, if the owner is an org"),
        PlannedCall(SERVICE, "GET", f"{base}/git/ref/heads/{BRANCH}", "the head of main"),
        PlannedCall(SERVICE, "PUT", f"{base}/contents/README.md", "if empty: a first commit"),
        PlannedCall(SERVICE, "GET", f"{base}/git/commits/{{sha}}", "the head commit's tree"),
        PlannedCall(SERVICE, "GET", f"{base}/git/trees/{{sha}}?recursive=1", "files already there"),
        PlannedCall(SERVICE, "POST", f"{base}/git/blobs", f"per new/changed file: up to {files}"),
        PlannedCall(SERVICE, "POST", f"{base}/git/trees", f"the whole folder: {files} files"),
        PlannedCall(SERVICE, "POST", f"{base}/git/commits", "one commit, parent: head of main"),
        PlannedCall(SERVICE, "PATCH", f"{base}/git/refs/heads/{BRANCH}", "move main to it"),
        PlannedCall(SERVICE, "POST", f"{base}/git/refs", "instead, if main does not exist"),
    ]
    return calls


def plan_secrets(owner: str | None, name: str, names: Sequence[str]) -> list[PlannedCall]:
    """The calls `set_secrets` makes, for a dry run (names only, never values)."""
    if not names:
        return []
    base = f"/repos/{owner or '{owner}'}/{name}/actions/secrets"
    calls = [PlannedCall(SERVICE, "GET", f"{base}/public-key", "the key to seal secrets with")]
    calls += [PlannedCall(SERVICE, "PUT", f"{base}/{n}", "sealed Actions secret") for n in names]
    return calls
