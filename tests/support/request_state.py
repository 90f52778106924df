"""Stand-ins for what routing and authentication put in a request's state."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeSite:
    id: str


@dataclass
class FakePrincipal:
    user_id: int
