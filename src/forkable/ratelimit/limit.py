"""A rate limit: how many events per how many seconds, under a name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """``count`` events per ``seconds``, under a name that keeps limits apart."""

    name: str
    count: int
    seconds: int


def per_minute(name: str, count: int) -> Limit:
    return Limit(name, count, 60)


def per_seconds(name: str, count: int, seconds: int) -> Limit:
    return Limit(name, count, seconds)
