"""Environment settings for `forkable deploy --target github|vercel` (to move into settings.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

GITHUB_API = "https://api.github.com"
VERCEL_API = "https://api.vercel.com"


class RemoteSettingsError(Exception):
    """Raised when the environment holds unusable deploy settings; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RemoteSettings:
    """What remote deploys take from the environment; tokens are kept out of repr."""

    github_token: str | None = field(default=None, repr=False)
    vercel_token: str | None = field(default=None, repr=False)
    vercel_team_id: str | None = None
    github_owner: str | None = None
    github_api: str = GITHUB_API
    vercel_api: str = VERCEL_API
    max_rate_limit_wait: float = 300.0  # total seconds all rate-limit waits may add up to
    deploy_timeout: float = 900.0  # seconds to wait for a Vercel deployment to be ready
    poll_interval: float = 3.0  # seconds between deployment status checks
    live_scheme: str = "https"  # scheme of the deployment URL (tests serve plain http)


def process_environ() -> Mapping[str, str]:
    """The process environment, for callers that do not pass their own mapping."""
    return os.environ


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _seconds(
    environ: Mapping[str, str],
    name: str,
    default: float,
    low: float,
    high: float,
    problems: list[str],
) -> float:
    text = _text(environ, name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        problems.append(
            f"{name} must be a number of seconds from {low:g} to {high:g}, not {text!r}"
        )
        return default
    return value


def load_remote_settings(environ: Mapping[str, str]) -> RemoteSettings:
    """Read GitHub and Vercel settings from ``environ``; raise RemoteSettingsError if unusable."""
    problems: list[str] = []
    apis: dict[str, str] = {}
    for name, default in (("FORKABLE_GITHUB_API", GITHUB_API), ("FORKABLE_VERCEL_API", VERCEL_API)):
        url = (_text(environ, name) or default).rstrip("/")
        if not url.startswith(("https://", "http://")):
            problems.append(f"{name} must be an http(s) URL, not {url!r}")
            url = default
        apis[name] = url
    scheme = (_text(environ, "FORKABLE_VERCEL_LIVE_SCHEME") or "https").lower()
    if scheme not in ("https", "http"):
        problems.append(f"FORKABLE_VERCEL_LIVE_SCHEME must be 'https' or 'http', not {scheme!r}")
        scheme = "https"
    settings = RemoteSettings(
        github_token=_text(environ, "GITHUB_TOKEN"),
        vercel_token=_text(environ, "VERCEL_TOKEN"),
        vercel_team_id=_text(environ, "VERCEL_TEAM_ID"),
        github_owner=_text(environ, "FORKABLE_GITHUB_OWNER"),
        github_api=apis["FORKABLE_GITHUB_API"],
        vercel_api=apis["FORKABLE_VERCEL_API"],
        max_rate_limit_wait=_seconds(
            environ, "FORKABLE_DEPLOY_MAX_WAIT", 300.0, 0.0, 86400.0, problems
        ),
        deploy_timeout=_seconds(
            environ, "FORKABLE_VERCEL_DEPLOY_TIMEOUT", 900.0, 1.0, 86400.0, problems
        ),
        poll_interval=_seconds(environ, "FORKABLE_VERCEL_POLL_INTERVAL", 3.0, 0.0, 600.0, problems),
        live_scheme=scheme,
    )
    if problems:
        raise RemoteSettingsError(problems)
    return settings
