"""Pieces the fake GitHub and Vercel servers share: timed call records, scripted rate limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from forkable.testing.http import Reply


@dataclass
class Call:
    """A request as it arrived: monotonic time, method, path and the status answered."""

    at: float
    method: str
    path: str
    status: int = 0


@dataclass(frozen=True)
class Limit:
    """A scripted rate limit for the next request that matches."""

    seconds: float
    method: str | None = None
    path_contains: str | None = None
    kind: Literal["primary", "secondary"] = "secondary"
    status: int = 429

    def matches(self, method: str, path: str) -> bool:
        return self.method in (None, method) and (
            self.path_contains is None or self.path_contains in path
        )


def pop_limit(limits: list[Limit], method: str, path: str) -> Limit | None:
    """Remove and return the first scripted limit that matches the request."""
    for limit in limits:
        if limit.matches(method, path):
            limits.remove(limit)
            return limit
    return None


def json_reply(status: int, payload: Any = None, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer (no body at all when ``payload`` is None, as for a 204)."""
    body = b"" if payload is None else json.dumps(payload).encode()
    base = {} if payload is None else {"content-type": "application/json; charset=utf-8"}
    return Reply(status=status, body=body, headers={**base, **(headers or {})})
