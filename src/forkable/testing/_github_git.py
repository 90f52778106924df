"""The fake GitHub's repositories: contents and the Git data API over a real git object store."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from nacl.public import PrivateKey

from forkable.testing._fake_api import json_reply
from forkable.testing._git_objects import GitStore
from forkable.testing.http import Reply

DOCS = "https://docs.github.com/rest"


def error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> Reply:
    """GitHub's error body: `message`, `documentation_url`, `status`, optional `errors`."""
    payload: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors:
        payload["errors"] = errors
    return json_reply(status, payload)


@dataclass(frozen=True)
class Host:
    """What answers mention: the API's base URL and the author of commits."""

    url: str
    author: str


@dataclass
class FakeRepo:
    """One repository: its git objects, refs and decrypted Actions secrets."""

    owner: str
    name: str
    private: bool = True
    admin: bool = True
    archived: bool = False
    description: str = ""
    default_branch: str = "main"
    id: int = 0
    git: GitStore = field(default_factory=GitStore)
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> commit sha
    secrets: dict[str, str] = field(default_factory=dict)  # decrypted
    secret_writes: list[str] = field(default_factory=list)
    key: PrivateKey = field(default_factory=PrivateKey.generate, repr=False)
    key_id: str = "3380204578043523366"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def empty(self) -> bool:
        return not self.refs

    def head(self, branch: str = "main") -> str | None:
        return self.refs.get(f"heads/{branch}")

    def files(self, commit: str | None = None) -> dict[str, bytes]:
        """The files at ``commit`` (default: the head of main)."""
        sha = commit or self.head()
        return {} if sha is None else self.git.files_at(sha)

    def history(self, branch: str = "main") -> list[str]:
        """Commits of ``branch``, newest first, following first parents."""
        shas: list[str] = []
        sha = self.head(branch)
        while sha is not None:
            shas.append(sha)
            parents = self.git.commit(sha).parents
            sha = parents[0] if parents else None
        return shas

    def commit_file(
        self, path: str, data: bytes, message: str, branch: str | None, author: str
    ) -> tuple[str, str]:
        """Commit one file on ``branch`` (the default branch), as the contents API does."""
        ref = f"heads/{branch or self.default_branch}"
        head = self.refs.get(ref)
        files = self.git.flatten(self.git.commit(head).tree) if head else {}
        blob = self.git.add_blob(data)
        files[path] = ("100644", blob)
        tree = self.git.add_tree(files)
        commit = self.git.add_commit(tree, [head] if head else [], message, author)
        self.refs[ref] = commit
        return blob, commit


def put_contents(repo: FakeRepo, path: str, body: dict[str, Any], host: Host) -> Reply:
    """PUT /repos/{o}/{r}/contents/{path}: works on an empty repository too."""
    branch = body.get("branch")
    if branch and not repo.empty and f"heads/{branch}" not in repo.refs:
        return error(404, f"Branch {branch} not found")
    head = repo.refs.get(f"heads/{branch or repo.default_branch}")
    existing = repo.git.flatten(repo.git.commit(head).tree).get(path) if head else None
    if existing and body.get("sha") != existing[1]:
        return error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    data = base64.b64decode(body["content"], validate=True)
    blob, commit = repo.commit_file(path, data, str(body["message"]), branch, host.author)
    return json_reply(
        200 if existing else 201,
        {
            "content": {"name": path.rsplit("/", 1)[-1], "path": path, "sha": blob},
            "commit": commit_json(repo, commit, host),
        },
    )


def create_blob(repo: FakeRepo, body: dict[str, Any], host: Host) -> Reply:
    encoding = body.get("encoding", "utf-8")
    if encoding == "base64":
        data = base64.b64decode(body["content"], validate=True)
    elif encoding == "utf-8":
        data = str(body["content"]).encode()
    else:
        return error(422, f"encoding {encoding!r} is not supported")
    sha = repo.git.add_blob(data)
    return json_reply(
        201, {"sha": sha, "url": f"{host.url}/repos/{repo.full_name}/git/blobs/{sha}"}
    )


def create_tree(repo: FakeRepo, body: dict[str, Any], host: Host) -> Reply:
    files = repo.git.flatten(body["base_tree"]) if body.get("base_tree") else {}
    for entry in body["tree"]:
        path = str(entry["path"])
        if path.startswith("/") or ".." in path.split("/") or entry.get("type") != "blob":
            return error(422, "Invalid tree info", [{"message": f"bad entry {path!r}"}])
        if "content" in entry:
            files[path] = (entry["mode"], repo.git.add_blob(str(entry["content"]).encode()))
        elif entry.get("sha") is None:
            files.pop(path, None)  # a null sha deletes the path from base_tree
        else:
            repo.git.blob(entry["sha"])
            files[path] = (entry["mode"], entry["sha"])
    return json_reply(201, tree_json(repo, repo.git.add_tree(files), host, recursive=False))


def tree_json(repo: FakeRepo, sha: str, host: Host, *, recursive: bool) -> dict[str, Any]:
    return {
        "sha": sha,
        "url": f"{host.url}/repos/{repo.full_name}/git/trees/{sha}",
        "tree": repo.git.listing(sha, recursive=recursive),
        "truncated": False,
    }


def commit_json(repo: FakeRepo, sha: str, host: Host) -> dict[str, Any]:
    commit = repo.git.commit(sha)
    return {
        "sha": sha,
        "url": f"{host.url}/repos/{repo.full_name}/git/commits/{sha}",
        "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
        "message": commit.message,
        "tree": {"sha": commit.tree},
        "parents": [{"sha": p} for p in commit.parents],
    }


def create_commit(repo: FakeRepo, body: dict[str, Any], host: Host) -> Reply:
    parents = [str(p) for p in body.get("parents") or []]
    sha = repo.git.add_commit(str(body["tree"]), parents, str(body["message"]), host.author)
    return json_reply(201, commit_json(repo, sha, host))


def ref_json(repo: FakeRepo, ref: str, host: Host) -> dict[str, Any]:
    return {
        "ref": f"refs/{ref}",
        "url": f"{host.url}/repos/{repo.full_name}/git/refs/{ref}",
        "object": {"type": "commit", "sha": repo.refs[ref]},
    }


def get_ref(repo: FakeRepo, ref: str, host: Host) -> Reply:
    if ref not in repo.refs:
        return error(404, "Not Found")
    return json_reply(200, ref_json(repo, ref, host))


def create_ref(repo: FakeRepo, body: dict[str, Any], host: Host) -> Reply:
    full = str(body["ref"])
    if not full.startswith("refs/") or full.count("/") < 2:
        return error(422, "Reference name must start with 'refs/' and have two slashes")
    ref = full.removeprefix("refs/")
    if ref in repo.refs:
        return error(422, "Reference already exists")
    repo.git.commit(body["sha"])
    repo.refs[ref] = body["sha"]
    return json_reply(201, ref_json(repo, ref, host))


def update_ref(repo: FakeRepo, ref: str, body: dict[str, Any], host: Host) -> Reply:
    if ref not in repo.refs:
        return error(422, "Reference does not exist")
    sha = str(body["sha"])
    repo.git.commit(sha)
    if not body.get("force") and not repo.git.is_ancestor(repo.refs[ref], sha):
        return error(422, "Update is not a fast forward")
    repo.refs[ref] = sha
    return json_reply(200, ref_json(repo, ref, host))
