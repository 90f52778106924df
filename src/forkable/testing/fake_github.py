"""A fake GitHub REST API on loopback: repositories, the Git data API, contents, Actions secrets.

It speaks what `forkable deploy --target github` uses, with GitHub's documented request and
error shapes: `GET /user`, `POST /user/repos` and `/orgs/{org}/repos` (422 when the name is
taken), `GET /repos/{o}/{r}` (404 `{"message": "Not Found"}`), `PUT .../contents/{path}`, git
blobs, trees, commits and refs (409 "Git Repository is empty." until a first commit, 422 for a
ref update that is not a fast forward), and Actions secrets sealed with a real PyNaCl key pair
that the fake decrypts, so tests read the plaintext in `repo.secrets`. Git ids are real git
object ids. Every answer carries `x-ratelimit-*` headers; `rate_limit_next` makes a matching
request answer 403 as a primary (`x-ratelimit-remaining: 0` and a reset) or a secondary
(`retry-after`) rate limit. Requests are recorded with the time they arrived (`fake.log`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from nacl.exceptions import CryptoError
from nacl.public import SealedBox

from forkable.testing import _github_git as git
from forkable.testing._fake_api import Call, Limit, json_reply, pop_limit
from forkable.testing._git_objects import GitError
from forkable.testing._github_git import DOCS, FakeRepo, Host, error
from forkable.testing.http import LoopbackServer, LoopbackService, RecordedRequest, Reply

__all__ = ["Call", "FakeGitHub", "FakeRepo"]

RATE_LIMIT = 5000
_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_REPO = r"^/repos/([^/]+)/([^/]+)"

Route = Callable[[RecordedRequest, re.Match[str]], Reply]
GitRoute = Callable[[FakeRepo, RecordedRequest, re.Match[str]], Reply]


class FakeGitHub(LoopbackService):
    """The fake API; see the module docstring."""

    def __init__(
        self,
        *,
        token: str = "ghp_fake_token",  # noqa: S107 - a test credential
        login: str = "octo",
        port: int = 0,
    ) -> None:
        self.token = token
        self.login = login
        self.orgs: set[str] = set()
        self.repos: dict[str, FakeRepo] = {}  # by lower-case full name
        self.log: list[Call] = []
        self.limited: list[tuple[Call, float]] = []  # (rate-limited call, seconds it asked)
        self._limits: list[Limit] = []
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._remaining = RATE_LIMIT
        self._routes = [(m, re.compile(p), r) for m, p, r in self._endpoints()]
        self.server = LoopbackServer(self._handle, port=port)

    def _endpoints(self) -> list[tuple[str, str, Route]]:
        """(method, path pattern, handler) of every endpoint the fake answers."""
        host = self._host
        return [
            ("GET", r"^/user$", self._user),
            ("POST", r"^/user/repos$", lambda rq, _m: self._create(self.login, rq)),
            ("POST", r"^/orgs/([^/]+)/repos$", self._create_org_repo),
            ("GET", _REPO + r"$", self._get_repo),
            (
                "PUT",
                _REPO + r"/contents/(.+)$",
                self._writes(
                    lambda r, rq, m: git.put_contents(r, unquote(m.group(3)), rq.json(), host())
                ),
            ),
            (
                "POST",
                _REPO + r"/git/blobs$",
                self._git(lambda r, rq, _m: git.create_blob(r, rq.json(), host())),
            ),
            (
                "POST",
                _REPO + r"/git/trees$",
                self._git(lambda r, rq, _m: git.create_tree(r, rq.json(), host())),
            ),
            ("GET", _REPO + r"/git/trees/([0-9a-f]{40})$", self._git(self._get_tree)),
            (
                "POST",
                _REPO + r"/git/commits$",
                self._git(lambda r, rq, _m: git.create_commit(r, rq.json(), host())),
            ),
            (
                "GET",
                _REPO + r"/git/commits/([0-9a-f]{40})$",
                self._git(lambda r, _rq, m: json_reply(200, git.commit_json(r, m[3], host()))),
            ),
            (
                "GET",
                _REPO + r"/git/ref/(.+)$",
                self._git(lambda r, _rq, m: git.get_ref(r, m.group(3), host())),
            ),
            (
                "POST",
                _REPO + r"/git/refs$",
                self._git(lambda r, rq, _m: git.create_ref(r, rq.json(), host())),
            ),
            (
                "PATCH",
                _REPO + r"/git/refs/(.+)$",
                self._git(lambda r, rq, m: git.update_ref(r, m.group(3), rq.json(), host())),
            ),
            ("GET", _REPO + r"/actions/secrets/public-key$", self._public_key),
            ("PUT", _REPO + r"/actions/secrets/([^/]+)$", self._put_secret),
        ]

    # -- lifecycle, scripting and inspection ----------------------------------------------

    def repo(self, full_name: str) -> FakeRepo:
        return self.repos[full_name.lower()]

    def add_repo(self, owner: str, name: str, **options: Any) -> FakeRepo:
        """A repository that exists before the test (``admin=False``: someone else's)."""
        with self._lock:
            repo = FakeRepo(owner, name, id=next(self._ids), **options)
            self.repos[repo.full_name.lower()] = repo
            return repo

    def rate_limit_next(
        self,
        *,
        kind: Literal["primary", "secondary"] = "secondary",
        seconds: float = 1.0,
        method: str | None = None,
        path_contains: str | None = None,
        status: int = 403,
    ) -> None:
        """Answer the next matching request with a rate limit asking to wait ``seconds``."""
        with self._lock:
            self._limits.append(Limit(seconds, method, path_contains, kind, status))

    # -- dispatch -------------------------------------------------------------------------

    def _host(self) -> Host:
        return Host(self.url, f"{self.login} <{self.login}@users.noreply.github.com>")

    def _handle(self, request: RecordedRequest) -> Reply:
        path = urlsplit(request.path).path
        call = Call(time.monotonic(), request.method, path)
        with self._lock:
            self.log.append(call)
            reply = self._dispatch(request, path, call)
            call.status = reply.status
            self._remaining = max(self._remaining - 1, 0)
            headers = {
                "x-ratelimit-limit": str(RATE_LIMIT),
                "x-ratelimit-remaining": str(self._remaining),
                "x-ratelimit-used": str(RATE_LIMIT - self._remaining),
                "x-ratelimit-reset": str(int(time.time()) + 3600),
                "x-ratelimit-resource": "core",
            }
            reply.headers = {**headers, **reply.headers}  # a rate limit's own headers win
            return reply

    def _dispatch(self, request: RecordedRequest, path: str, call: Call) -> Reply:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or token != self.token:
            return error(401, "Bad credentials")
        limit = pop_limit(self._limits, request.method, path)
        if limit is not None:
            return self._rate_limit_reply(limit, call)
        for method, pattern, route in self._routes:
            match = pattern.match(path)
            if match and method == request.method:
                try:
                    return route(request, match)
                except (ValueError, KeyError, TypeError, binascii.Error, GitError) as exc:
                    return error(422, f"Invalid request.\n\n{exc}")
        return error(404, "Not Found")

    def _rate_limit_reply(self, limit: Limit, call: Call) -> Reply:
        if limit.kind == "secondary":
            wait = math.ceil(limit.seconds)
            self.limited.append((call, float(wait)))
            message = (
                "You have exceeded a secondary rate limit. "
                "Please wait a few minutes before you try again."
            )
            return json_reply(
                limit.status,
                {"message": message, "documentation_url": DOCS},
                {"retry-after": str(wait)},
            )
        reset = math.ceil(time.time() + limit.seconds)
        self.limited.append((call, reset - time.time()))
        return json_reply(
            limit.status,
            {"message": "API rate limit exceeded for user ID 1.", "documentation_url": DOCS},
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        )

    def _visible(self, owner: str, name: str) -> FakeRepo | None:
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None or (repo.private and not repo.admin):
            return None  # GitHub hides private repositories from strangers behind a 404
        return repo

    def _writes(self, route: GitRoute) -> Route:
        """A route on a repository this token may write to (404 otherwise, as GitHub does)."""

        def handle(request: RecordedRequest, match: re.Match[str]) -> Reply:
            repo = self._visible(match.group(1), match.group(2))
            if repo is None or not repo.admin:
                return error(404, "Not Found")
            return route(repo, request, match)

        return handle

    def _git(self, route: GitRoute) -> Route:
        """A Git data API route: 409 while the repository has no commit."""

        def handle(repo: FakeRepo, request: RecordedRequest, match: re.Match[str]) -> Reply:
            if repo.empty:
                return error(409, "Git Repository is empty.")
            return route(repo, request, match)

        return self._writes(handle)

    def _get_tree(self, repo: FakeRepo, request: RecordedRequest, match: re.Match[str]) -> Reply:
        query = parse_qs(urlsplit(request.path).query)
        recursive = query.get("recursive", ["0"])[0] not in ("0", "false", "")
        return json_reply(
            200, git.tree_json(repo, match.group(3), self._host(), recursive=recursive)
        )

    # -- users and repositories -----------------------------------------------------------

    def _user(self, _request: RecordedRequest, _match: re.Match[str]) -> Reply:
        return json_reply(200, {"login": self.login, "id": 1, "type": "User", "name": self.login})

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        owner_type = "Organization" if repo.owner in self.orgs else "User"
        return {
            "id": repo.id,
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": {"login": repo.owner, "type": owner_type},
            "html_url": f"https://github.com/{repo.full_name}",
            "url": f"{self.url}/repos/{repo.full_name}",
            "description": repo.description,
            "default_branch": repo.default_branch,
            "archived": repo.archived,
            "permissions": {
                "admin": repo.admin,
                "maintain": repo.admin,
                "push": repo.admin,
                "triage": repo.admin,
                "pull": True,
            },
        }

    def _create(self, owner: str, request: RecordedRequest) -> Reply:
        body = request.json()
        name = body.get("name")
        if not isinstance(name, str) or not _REPO_NAME.match(name):
            return error(422, "Repository creation failed.", [{"field": "name", "code": "invalid"}])
        if f"{owner}/{name}".lower() in self.repos:
            taken = {
                "resource": "Repository",
                "code": "custom",
                "field": "name",
                "message": "name already exists on this account",
            }
            return error(422, "Repository creation failed.", [taken])
        repo = self.add_repo(
            owner,
            name,
            private=bool(body.get("private")),
            description=body.get("description") or "",
        )
        if body.get("auto_init"):
            repo.commit_file(
                "README.md", f"# {name}\n".encode(), "Initial commit", None, self._host().author
            )
        return json_reply(201, self._repo_json(repo))

    def _create_org_repo(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if match.group(1) not in self.orgs:
            return error(404, "Not Found")
        return self._create(match.group(1), request)

    def _get_repo(self, _request: RecordedRequest, match: re.Match[str]) -> Reply:
        repo = self._visible(match.group(1), match.group(2))
        return error(404, "Not Found") if repo is None else json_reply(200, self._repo_json(repo))

    # -- Actions secrets ------------------------------------------------------------------

    def _admin_repo(self, match: re.Match[str]) -> FakeRepo | Reply:
        repo = self._visible(match.group(1), match.group(2))
        if repo is None:
            return error(404, "Not Found")
        if not repo.admin:
            return error(403, "Must have admin rights to Repository.")
        return repo

    def _public_key(self, _request: RecordedRequest, match: re.Match[str]) -> Reply:
        repo = self._admin_repo(match)
        if isinstance(repo, Reply):
            return repo
        key = base64.b64encode(bytes(repo.key.public_key)).decode()
        return json_reply(200, {"key_id": repo.key_id, "key": key})

    def _put_secret(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        repo = self._admin_repo(match)
        if isinstance(repo, Reply):
            return repo
        name = match.group(3)
        if not _SECRET_NAME.match(name) or name.upper().startswith("GITHUB_"):
            return error(422, "Secret names can only contain alphanumeric characters or '_'")
        body = request.json()
        if body.get("key_id") != repo.key_id:
            return error(422, "Bad request: key_id does not match the repository's public key")
        try:
            sealed = base64.b64decode(body["encrypted_value"], validate=True)
            value = SealedBox(repo.key).decrypt(sealed).decode()
        except (CryptoError, binascii.Error, UnicodeDecodeError):
            return error(422, "Bad request: encrypted_value could not be decrypted")
        created = name not in repo.secrets
        repo.secrets[name] = value
        repo.secret_writes.append(name)
        return json_reply(201 if created else 204)
