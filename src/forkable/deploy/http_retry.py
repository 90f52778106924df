"""A small REST client over httpx: waits out rate limits within a budget, names every failure."""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from forkable import __version__

USER_AGENT = f"forkable/{__version__}"
# Waiting exactly until a reset second can still land early when clocks differ a little.
RESET_MARGIN = 0.25
# GitHub's advice for a secondary limit that names no wait: "wait at least one minute".
SECONDARY_LIMIT_WAIT = 60.0
VERCEL_DEFAULT_WAIT = 5.0
TRANSIENT_STATUSES = frozenset({502, 503, 504})
TRANSIENT_BACKOFF = (0.5, 1.0, 2.0)
MAX_RATE_LIMIT_RETRIES = 10


class RemoteDeployError(Exception):
    """A remote deploy failure; ``str()`` is one line for the CLI."""


class ApiError(RemoteDeployError):
    """An API answered with an error (or could not be reached: ``status`` is None)."""

    def __init__(
        self,
        service: str,
        method: str,
        path: str,
        status: int | None,
        message: str,
        code: str | None = None,
    ) -> None:
        self.service = service
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.code = code
        if status is None:
            text = f"{service} could not be reached for {method} {path}: {message}"
        else:
            suffix = f" ({code})" if code else ""
            text = f"{service} answered {status} to {method} {path}: {message}{suffix}"
        super().__init__(text)


class RateLimitError(RemoteDeployError):
    """Waiting out a rate limit would go past the total wait budget."""


@dataclass(frozen=True)
class PlannedCall:
    """An API call a dry run lists: service, method, path (no secrets) and why."""

    service: str
    method: str
    path: str
    note: str = ""


@dataclass
class WaitBudget:
    """Seconds that rate-limit waits may still add up to, shared by every client of a run."""

    limit: float
    spent: float = 0.0

    @property
    def left(self) -> float:
        return max(self.limit - self.spent, 0.0)


# Given a response and the wall-clock time, the seconds the API asks to wait, or None.
RateLimitRule = Callable[[httpx.Response, float], float | None]
# The message and error code an API put in an error response.
Describe = Callable[[httpx.Response], tuple[str, str | None]]


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a `retry-after` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        return max(when - now, 0.0)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _until_reset(value: str | None, now: float) -> float | None:
    try:
        reset = float(value) if value else None
    except ValueError:
        return None
    if reset is None or not math.isfinite(reset):
        return None
    return max(reset - now, 0.0) + RESET_MARGIN


def github_rate_limit(response: httpx.Response, now: float) -> float | None:
    """GitHub: 403/429 with `retry-after` (secondary) or `x-ratelimit-remaining: 0` (primary)."""
    if response.status_code not in (403, 429):
        return None
    wait = retry_after(response.headers.get("retry-after"), now)
    if wait is not None:
        return wait
    if response.headers.get("x-ratelimit-remaining") == "0":
        return _until_reset(response.headers.get("x-ratelimit-reset"), now)
    body = _body(response)
    message = body.get("message", "") if isinstance(body, dict) else ""
    if isinstance(message, str) and "secondary rate limit" in message.lower():
        return SECONDARY_LIMIT_WAIT
    return None


def vercel_rate_limit(response: httpx.Response, now: float) -> float | None:
    """Vercel: 429 `rate_limited`, waiting as `retry-after` or `x-ratelimit-reset` says."""
    if response.status_code != 429:
        return None
    wait = retry_after(response.headers.get("retry-after"), now)
    if wait is None:
        wait = _until_reset(response.headers.get("x-ratelimit-reset"), now)
    if wait is None:
        body = _body(response)
        error = body.get("error") if isinstance(body, dict) else None
        limit = error.get("limit") if isinstance(error, dict) else None
        reset = limit.get("reset") if isinstance(limit, dict) else None
        wait = _until_reset(str(reset), now) if isinstance(reset, int | float) else None
    return VERCEL_DEFAULT_WAIT if wait is None else wait


def github_error(response: httpx.Response) -> tuple[str, str | None]:
    """GitHub's `message`, with the `errors` list's messages or codes appended."""
    body = _body(response)
    if not isinstance(body, dict):
        return (response.reason_phrase or "no message", None)
    message = str(body.get("message") or response.reason_phrase or "no message")
    details: list[str] = []
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            detail = error.get("message") or error.get("code")
            if detail:
                details.append(str(detail))
        elif isinstance(error, str):
            details.append(error)
    if details:
        message = f"{message} ({'; '.join(details)})"
    return (message.replace("\n", " ").strip(), None)


def vercel_error(response: httpx.Response) -> tuple[str, str | None]:
    """Vercel's `{"error": {"code", "message"}}`."""
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return (response.reason_phrase or "no message", None)
    message = str(error.get("message") or response.reason_phrase or "no message")
    code = error.get("code")
    return (message.replace("\n", " ").strip(), str(code) if code else None)


class ApiClient:
    """One API's client: bearer auth, JSON, rate-limit waits and transient retries."""

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        token: str,
        rate_limit: RateLimitRule,
        describe: Describe,
        budget: WaitBudget,
        notify: Callable[[str], None],
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.service = service
        self._rate_limit = rate_limit
        self._describe = describe
        self._budget = budget
        self._notify = notify
        self._http = httpx.Client(
            base_url=base_url,
            params=dict(params or {}),
            headers={
                "authorization": f"Bearer {token}",
                "user-agent": USER_AGENT,
                **dict(headers or {}),
            },
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        retry_transient: bool = True,
    ) -> httpx.Response:
        """The answer once rate limits are waited out; raise ApiError if unreachable."""
        transient = 0
        limited = 0
        while True:
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                if retry_transient and transient < len(TRANSIENT_BACKOFF):
                    time.sleep(TRANSIENT_BACKOFF[transient])
                    transient += 1
                    continue
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise ApiError(self.service, method, path, None, reason) from None
            wait = self._rate_limit(response, time.time())
            if wait is not None and limited < MAX_RATE_LIMIT_RETRIES:
                self._wait(method, path, response, wait)
                limited += 1
                continue
            if wait is not None:
                raise RateLimitError(
                    f"{self.service} kept rate limiting {method} {path} after {limited} waits"
                )
            if (
                retry_transient
                and response.status_code in TRANSIENT_STATUSES
                and transient < len(TRANSIENT_BACKOFF)
            ):
                time.sleep(TRANSIENT_BACKOFF[transient])
                transient += 1
                continue
            return response

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
        retry_transient: bool = True,
    ) -> httpx.Response:
        """Like `send`, raising ApiError unless the status is one of ``ok``."""
        response = self.send(
            method, path, json=json, params=params, retry_transient=retry_transient
        )
        if response.status_code not in ok:
            raise self.error(method, path, response)
        return response

    def error(self, method: str, path: str, response: httpx.Response) -> ApiError:
        message, code = self._describe(response)
        return ApiError(self.service, method, path, response.status_code, message, code)

    def _wait(self, method: str, path: str, response: httpx.Response, wait: float) -> None:
        if wait > self._budget.left:
            message, _code = self._describe(response)
            raise RateLimitError(
                f"{self.service} rate limited {method} {path} ({response.status_code}: {message}) "
                f"and asks to wait {wait:.0f} s, more than the {self._budget.left:.0f} s left of "
                f"the {self._budget.limit:.0f} s FORKABLE_DEPLOY_MAX_WAIT allows; run again later"
            )
        self._notify(
            f"{self.service}: rate limited on {method} {path}; waiting {wait:.1f} s as asked"
        )
        self._budget.spent += wait
        time.sleep(wait)
