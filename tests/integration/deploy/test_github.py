"""`forkable deploy --target github` against the fake GitHub: repository, one commit, secrets."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from tests.support.remote_deploy import (
    GITHUB_TOKEN,
    HOME_SECRET,
    LEFT_BEHIND,
    SECRETS,
    SITE_ID,
    STEP_LINE,
    assert_no_leaks,
    deploy,
    environ,
    make_site,
    pushed_files,
    template,
)

from forkable.testing.fake_github import FakeGitHub

OWNER = "octo"
REPO = f"{OWNER}/{SITE_ID}"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GITHUB_TOKEN, login=OWNER) as fake:
        yield fake


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path)


def _calls(github: FakeGitHub, method: str, suffix: str) -> list[str]:
    return [c.path for c in github.log if c.method == method and c.path.endswith(suffix)]


def test_first_deploy_creates_the_repository_with_one_commit_and_sealed_secrets(
    github: FakeGitHub, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = deploy(capsys, site, "github", environ(github))

    assert result.code == 0, result.err
    repo = github.repo(REPO)
    assert repo.private
    # The empty repository got a README through the contents API, then the site in ONE commit.
    site_commit, readme_commit = repo.history()
    assert repo.files(readme_commit).keys() == {"README.md"}
    assert repo.git.commit(site_commit).parents == (readme_commit,)
    assert repo.files() == pushed_files(site)
    assert "assets/all-bytes.png" in repo.files()  # binary-safe
    assert not {".env", "var/forkable.sqlite3", "assets/stale.pyc"} & repo.files().keys()
    assert not any(path.startswith(tuple(LEFT_BEHIND)) for path in repo.files())
    assert all(HOME_SECRET.encode() not in data for data in repo.files().values())
    assert all(HOME_SECRET.encode() not in r.body for r in github.requests)
    assert len(_calls(github, "POST", "/git/commits")) == 1
    assert len(_calls(github, "POST", "/git/trees")) == 1
    blobs = [r.json() for r in github.requests if r.path.endswith("/git/blobs")]
    assert {b["encoding"] for b in blobs} == {"base64"}
    assert {base64.b64decode(b["content"]) for b in blobs} == set(pushed_files(site).values())
    # Sealed with the repository's key, decrypted by the fake: exactly the .env's known secrets.
    assert repo.secrets == SECRETS
    assert all(r.headers["authorization"] == f"Bearer {GITHUB_TOKEN}" for r in github.requests)

    assert f"repository: https://github.com/{REPO}" in result.out
    steps = STEP_LINE.findall(result.out)
    assert [s.split(":")[0] for s in steps] == [
        "github owner",
        "github repository",
        "github push",
        "github secrets",
    ]
    assert_no_leaks([result], site)


def test_second_deploy_updates_the_repository_instead_of_failing(
    github: FakeGitHub, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environ(github, FORKABLE_GITHUB_OWNER=OWNER)
    first = deploy(capsys, site, "github", env)
    assert first.code == 0, first.err
    repo = github.repo(REPO)
    first_commit = repo.head()
    blobs_before = len(_calls(github, "POST", "/git/blobs"))

    manifest = site / "site.toml"
    manifest.write_text(manifest.read_text().replace("printable", "PRINTABLE"))
    (site / "assets" / "all-bytes.png").unlink()
    (site / "assets" / "extra.css").write_text("body { margin: 0 }\n")
    second = deploy(capsys, site, "github", env)

    assert second.code == 0, second.err
    assert len(github.repos) == 1
    assert len(_calls(github, "POST", "/user/repos")) == 1
    assert repo.history()[:2] == [repo.head(), first_commit]
    assert repo.git.commit(repo.history()[0]).parents == (first_commit,)
    assert repo.files() == pushed_files(site)  # the deleted file is gone from main
    # Only what changed was uploaded again.
    assert len(_calls(github, "POST", "/git/blobs")) - blobs_before == 2
    assert repo.secret_writes.count("DATABASE_URL") == 2
    assert "exists, reused" in second.out

    third = deploy(capsys, site, "github", env)
    assert third.code == 0, third.err
    assert "unchanged, main already at" in third.out
    assert len(repo.history()) == 3
    assert_no_leaks([first, second, third], site)


def test_an_organisation_owner_gets_the_repository(
    github: FakeGitHub, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    github.orgs.add("petco")
    result = deploy(capsys, site, "github", environ(github, FORKABLE_GITHUB_OWNER="petco"))

    assert result.code == 0, result.err
    assert _calls(github, "POST", "/orgs/petco/repos")
    assert not _calls(github, "POST", "/user/repos")
    assert github.repo(f"petco/{SITE_ID}").files() == pushed_files(site)


def test_someone_elses_repository_is_not_reused(
    github: FakeGitHub, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    github.add_repo(OWNER, SITE_ID, admin=False, private=False)
    result = deploy(capsys, site, "github", environ(github))

    assert result.code == 1
    assert "error: step 'github repository' failed" in result.err
    assert "is not ours" in result.err
    assert "already done: nothing" in result.err
    assert not [r for r in github.requests if r.method != "GET"]


def test_bad_credentials_name_the_step_and_the_answer(
    github: FakeGitHub, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environ(github) | {"GITHUB_TOKEN": "ghp_wrong_" + GITHUB_TOKEN}
    result = deploy(capsys, site, "github", env)

    assert result.code == 1
    assert "step 'github owner' failed: GitHub answered 401 to GET /user: Bad credentials" in (
        result.err
    )
    assert "ghp_wrong_" not in result.err + result.out


@pytest.mark.parametrize(
    ("kind", "method", "path"),
    [("primary", "POST", "/git/blobs"), ("secondary", "PUT", "/actions/secrets/DATABASE_URL")],
)
def test_rate_limits_are_waited_out(
    github: FakeGitHub,
    site: Path,
    capsys: pytest.CaptureFixture[str],
    kind: Literal["primary", "secondary"],
    method: str,
    path: str,
) -> None:
    github.rate_limit_next(kind=kind, seconds=1.0, method=method, path_contains=path)
    result = deploy(capsys, site, "github", environ(github))

    assert result.code == 0, result.err
    [(limited, asked)] = github.limited
    retry = next(c for c in github.log if c.at > limited.at and c.path == limited.path)
    assert 0.5 <= asked <= 2.0
    # Waited as asked; how much longer is up to the machine, so no upper bound.
    assert retry.at - limited.at >= asked - 0.05
    assert retry.status in (201, 204)
    assert f"GitHub: rate limited on {method}" in result.out
    assert github.repo(REPO).secrets == SECRETS


def test_a_rate_limit_longer_than_the_cap_fails_clearly(
    github: FakeGitHub, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    github.rate_limit_next(kind="secondary", seconds=120, path_contains="/secrets/public-key")
    result = deploy(capsys, site, "github", environ(github, FORKABLE_DEPLOY_MAX_WAIT="2"))

    assert result.code == 1
    assert "step 'github secrets' failed: GitHub rate limited GET" in result.err
    assert "asks to wait 120 s" in result.err
    assert f"already done: repository {REPO} exists; main at" in result.err
    assert "not done yet: Actions secrets" in result.err


def test_dry_run_lists_every_call_and_makes_none(
    github: FakeGitHub, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = deploy(capsys, site, "github", environ(github), dry_run=True)

    assert plan.code == 0, plan.err
    assert github.requests == []
    assert "no API call is made" in plan.out
    assert f"POST   {github.url}/user/repos" in plan.out
    assert "assets/all-bytes.png" in plan.out and "var/forkable.sqlite3" not in plan.out
    not_pushed = next(line for line in plan.out.splitlines() if line.startswith("not pushed ("))
    for path, reason in LEFT_BEHIND.items():
        assert f"{path} ({reason}" in not_pushed
    assert HOME_SECRET not in plan.out
    for name in SECRETS:
        assert f"/actions/secrets/{name}" in plan.out
    assert_no_leaks([plan], site)

    # Every call a real run makes was in the list.
    real = deploy(capsys, site, "github", environ(github))
    assert real.code == 0, real.err
    listed = {
        (line.split()[0], line.split()[1].removeprefix(github.url))
        for line in plan.out.splitlines()
        if line.startswith("  ")
    }
    for request in github.requests:
        assert (request.method, template(request.path, OWNER)) in listed, request.path


def test_dry_run_needs_no_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = make_site(tmp_path)
    plan = deploy(capsys, site, "github", {}, dry_run=True)

    assert plan.code == 0, plan.err
    assert "GET    https://api.github.com/user" in plan.out
    assert "note: GITHUB_TOKEN is not set" in plan.out


def test_a_real_run_without_a_token_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = deploy(capsys, make_site(tmp_path), "github", {})

    assert result.code == 1
    assert result.err.strip() == (
        "error: GITHUB_TOKEN must be set to deploy to github (see docs/deployment-remote.md)"
    )


def test_the_fake_rejects_a_secret_sealed_with_another_key(github: FakeGitHub) -> None:
    """The fake really decrypts: garbage is refused, so passing tests mean real sealing."""
    import httpx

    github.add_repo(OWNER, SITE_ID)
    answer = httpx.put(
        f"{github.url}/repos/{REPO}/actions/secrets/X",
        headers={"authorization": f"Bearer {GITHUB_TOKEN}"},
        content=json.dumps(
            {
                "encrypted_value": base64.b64encode(b"x" * 60).decode(),
                "key_id": "3380204578043523366",
            }
        ),
    )
    assert answer.status_code == 422


def test_the_cli_runs_it(github: FakeGitHub, site: Path) -> None:
    """`forkable deploy PATH --target github` reaches this code through the real CLI."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "VERCEL_", "FORKABLE_"))
    }
    command = [sys.executable, "-m", "forkable", "deploy", str(site), "--target", "github"]
    done = subprocess.run(
        command, env=inherited | environ(github), capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert github.repo(REPO).files() == pushed_files(site)
    assert GITHUB_TOKEN not in done.stdout + done.stderr
