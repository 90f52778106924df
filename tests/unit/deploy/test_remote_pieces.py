"""The small parts of remote deploys: rate-limit rules, settings, `.env` and the files pushed."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import httpx
import pytest

from forkable.deploy.http_retry import (
    ApiClient,
    RateLimitError,
    WaitBudget,
    github_error,
    github_rate_limit,
    retry_after,
    vercel_error,
    vercel_rate_limit,
)
from forkable.deploy.remote_bundle import EnvFileError, SiteFile, read_env_file
from forkable.deploy.remote_settings import RemoteSettingsError, load_remote_settings

NOW = 1_800_000_000.0


def _response(status: int, headers: dict[str, str] | None = None, **body: object) -> httpx.Response:
    return httpx.Response(status, headers=headers, json=body)


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert retry_after("2", NOW) == 2.0
    assert retry_after(email.utils.formatdate(NOW + 30, usegmt=True), NOW) == pytest.approx(30)
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None


def test_github_rules_wait_only_for_rate_limits() -> None:
    primary = _response(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 5)})
    assert github_rate_limit(primary, NOW) == pytest.approx(5.25)
    assert github_rate_limit(_response(429, {"retry-after": "3"}), NOW) == 3.0
    unnamed = _response(403, message="You have exceeded a secondary rate limit.")
    assert github_rate_limit(unnamed, NOW) == 60.0
    # A permission problem is a 403 too, and must not be waited on.
    assert github_rate_limit(_response(403, message="Must have admin rights"), NOW) is None
    assert github_rate_limit(_response(200, {"x-ratelimit-remaining": "0"}), NOW) is None


def test_vercel_rules_use_retry_after_then_the_reset() -> None:
    assert vercel_rate_limit(_response(429, {"retry-after": "4"}), NOW) == 4.0
    reset = _response(429, {"x-ratelimit-reset": str(int(NOW) + 7)})
    assert vercel_rate_limit(reset, NOW) == pytest.approx(7.25)
    in_body = _response(429, error={"code": "rate_limited", "limit": {"reset": int(NOW) + 2}})
    assert vercel_rate_limit(in_body, NOW) == pytest.approx(2.25)
    assert vercel_rate_limit(_response(403), NOW) is None


def test_error_messages_carry_the_apis_words() -> None:
    failed = _response(
        422,
        message="Repository creation failed.",
        errors=[{"code": "custom", "message": "name already exists on this account"}],
    )
    assert github_error(failed) == (
        "Repository creation failed. (name already exists on this account)",
        None,
    )
    denied = _response(403, error={"code": "forbidden", "message": "Not authorized"})
    assert vercel_error(denied) == ("Not authorized", "forbidden")


def test_a_wait_past_the_budget_fails_at_once() -> None:
    def always_limited(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": "600"}, json={"error": {}})

    client = ApiClient(
        service="Vercel",
        base_url="https://api.example.test",
        token="t",  # never sent anywhere: a mock transport answers
        rate_limit=vercel_rate_limit,
        describe=vercel_error,
        budget=WaitBudget(5.0),
        notify=lambda _line: None,
        transport=httpx.MockTransport(always_limited),
    )
    started = time.monotonic()
    with client, pytest.raises(RateLimitError, match="asks to wait 600 s, more than the 5 s"):
        client.call("GET", "/v9/projects/x")
    # Refused without waiting: far below the 600 s asked for, with room for a busy machine.
    assert time.monotonic() - started < 60


def test_settings_defaults_and_problems() -> None:
    settings = load_remote_settings({"GITHUB_TOKEN": " ghp_x "})
    assert settings.github_token == "ghp_x"
    assert settings.github_api == "https://api.github.com"
    assert settings.vercel_api == "https://api.vercel.com"
    assert "ghp_x" not in repr(settings)
    with pytest.raises(RemoteSettingsError) as caught:
        load_remote_settings(
            {"FORKABLE_GITHUB_API": "ftp://x", "FORKABLE_DEPLOY_MAX_WAIT": "forever"}
        )
    assert caught.value.problems == [
        "FORKABLE_GITHUB_API must be an http(s) URL, not 'ftp://x'",
        "FORKABLE_DEPLOY_MAX_WAIT must be a number of seconds from 0 to 86400, not 'forever'",
    ]


def test_a_bad_env_line_is_named_by_number_not_content(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# ok\nGEMINI_API_KEY=abc\nthis-is-sk_live_secret\n")
    with pytest.raises(EnvFileError) as caught:
        read_env_file(tmp_path)
    assert str(caught.value).endswith(".env:3: not a KEY=VALUE line")
    assert "sk_live" not in str(caught.value)


def test_blob_ids_are_gits() -> None:
    assert SiteFile("empty", b"").blob_sha == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert SiteFile("x", b"hello\n").blob_sha == "ce013625030ba8dba906f756967f9e9ca394464a"
