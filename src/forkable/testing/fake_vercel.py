"""A fake Vercel REST API on loopback: projects, env upserts, deployments, domains.

It speaks what `forkable deploy --target vercel` uses, in Vercel's wire format: `Authorization:
Bearer` auth, an optional `?teamId=` scope on every call, `{"error": {"code", "message"}}`
errors. Projects are created (`POST /v11/projects`, 409 `conflict` when the name is taken),
read and patched (`/v9/projects/{idOrName}`); `POST /v10/projects/{id}/env?upsert=true` answers
201 `{created, failed}` (`fail_env` scripts a `failed` entry); deployments go QUEUED, then
BUILDING, then READY after `ready_after` polls, or ERROR (`fail_next_deployment`); a deployment's
`url` is the host of `live_url` (a real server a test starts) so the client's smoke test has
something to reach; `POST /v10/projects/{id}/domains` answers 409 `domain_already_in_use` for a
domain that is already on a project. `rate_limit_next` answers the next matching request 429
`rate_limited` with `retry-after` and `x-ratelimit-reset`. Requests are recorded with the time
they arrived (`fake.log`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from forkable.testing._fake_api import Call, Limit, pop_limit
from forkable.testing._vercel_state import FakeDeployment, VercelState, error
from forkable.testing.http import LoopbackServer, LoopbackService, RecordedRequest, Reply

__all__ = ["FakeDeployment", "FakeVercel"]


class FakeVercel(VercelState, LoopbackService):
    """The fake API; see the module docstring."""

    def __init__(
        self,
        *,
        token: str = "vercel_fake_token",  # noqa: S107 - a test credential
        team_id: str | None = None,
        user_id: str = "user_fake1",
        ready_after: int = 2,
        live_url: str | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(
            team_id=team_id, user_id=user_id, ready_after=ready_after, live_url=live_url
        )
        self.token = token
        self.log: list[Call] = []
        self.limited: list[tuple[Call, float]] = []  # (rate-limited call, seconds it asked)
        self._limits: list[Limit] = []
        self._lock = threading.RLock()
        self.server = LoopbackServer(self._handle, port=port)

    def add_project(self, name: str, repo: str | None = None) -> dict[str, Any]:
        """A project that exists before the test, linked to ``repo`` ("owner/name") or not."""
        with self._lock:
            return self.new_project(name, repo, None)

    def fail_env(self, key: str, code: str = "ENV_CONFLICT", message: str | None = None) -> None:
        """Upserts of ``key`` end in `failed` with this error from now on."""
        with self._lock:
            self.env_failures[key] = (code, message or f"The variable {key} could not be saved")

    def fail_next_deployment(
        self, code: str = "BUILD_FAILED", message: str = 'Command "pip install" exited with 1'
    ) -> None:
        """The next deployment created ends in ERROR with this code and message."""
        with self._lock:
            self.deploy_failures.append((code, message))

    def rate_limit_next(
        self, *, seconds: float = 1.0, method: str | None = None, path_contains: str | None = None
    ) -> None:
        """Answer the next matching request 429 `rate_limited`, asking to wait ``seconds``."""
        with self._lock:
            self._limits.append(Limit(seconds, method, path_contains))

    def _handle(self, request: RecordedRequest) -> Reply:
        parts = urlsplit(request.path)
        call = Call(time.monotonic(), request.method, parts.path)
        with self._lock:
            self.log.append(call)
            reply = self._dispatch(request, parts.path, parse_qs(parts.query), call)
            call.status = reply.status
            return reply

    def _dispatch(
        self, request: RecordedRequest, path: str, query: dict[str, list[str]], call: Call
    ) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(403, "forbidden", "Not authorized", invalidToken=True)
        if query.get("teamId", [None])[0] != self.team_id:
            return error(403, "forbidden", "Not authorized: you are not a member of this scope")
        limit = pop_limit(self._limits, request.method, path)
        if limit is not None:
            return self._rate_limit_reply(limit, call)
        method = request.method
        try:
            body: Any = request.json() if request.body else {}
            return self._route(method, path, query, body)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return error(400, "bad_request", f"Invalid request: {exc}")

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if re.match(r"^/v1[01]/projects$", path) and method == "POST":
            return self.create_project(body)
        if m := re.match(r"^/v9/projects/([^/]+)$", path):
            if method == "GET":
                return self.get_project(m.group(1))
            if method == "PATCH":
                return self.patch_project(m.group(1), body)
        if (m := re.match(r"^/v10/projects/([^/]+)/env$", path)) and method == "POST":
            return self.upsert_env(m.group(1), body, query.get("upsert", [""])[0] == "true")
        if path == "/v13/deployments" and method == "POST":
            return self.create_deployment(body)
        if (m := re.match(r"^/v13/deployments/([^/]+)$", path)) and method == "GET":
            return self.get_deployment(m.group(1))
        if (m := re.match(r"^/v10/projects/([^/]+)/domains$", path)) and method == "POST":
            return self.add_domain(m.group(1), body)
        if (m := re.match(r"^/v9/projects/([^/]+)/domains/([^/]+)$", path)) and method == "GET":
            return self.get_domain(m.group(1), m.group(2))
        return error(404, "not_found", "The requested URL was not found")

    def _rate_limit_reply(self, limit: Limit, call: Call) -> Reply:
        wait = math.ceil(limit.seconds)
        reset = int(time.time()) + wait
        self.limited.append((call, float(wait)))
        reply = error(
            429,
            "rate_limited",
            "Rate limit exceeded",
            limit={"remaining": 0, "reset": reset, "resetMs": reset * 1000, "total": 100},
        )
        reply.headers.update(
            {
                "retry-after": str(wait),
                "x-ratelimit-limit": "100",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
            }
        )
        return reply
