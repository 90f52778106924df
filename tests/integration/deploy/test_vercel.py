"""`forkable deploy --target vercel` against the fake GitHub and Vercel, smoke-testing a real site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.serving import serve
from tests.support.remote_deploy import (
    DOMAIN,
    GITHUB_TOKEN,
    SECRETS,
    SITE_ID,
    SITE_NAME,
    STEP_LINE,
    TEAM_ID,
    VERCEL_TOKEN,
    assert_no_leaks,
    deploy,
    environ,
    make_site,
    pushed_files,
    template,
)
from tests.support.waiting import wait_until

from forkable.testing.fake_github import FakeGitHub
from forkable.testing.fake_vercel import FakeVercel
from forkable.testing.http import LoopbackServer, RecordedRequest, Reply

OWNER = "octo"
REPO = f"{OWNER}/{SITE_ID}"


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `forkable serve` of the forked site: what the Vercel deployment would serve."""
    parent = tmp_path_factory.mktemp("live")
    with serve(make_site(parent), parent / "var") as server:
        yield server.url


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GITHUB_TOKEN, login=OWNER) as fake:
        yield fake


@pytest.fixture
def vercel(live_site: str) -> Iterator[FakeVercel]:
    with FakeVercel(token=VERCEL_TOKEN, team_id=TEAM_ID, live_url=live_site) as fake:
        yield fake


def _posts(vercel: FakeVercel, path: str) -> list[RecordedRequest]:
    return [r for r in vercel.requests if r.method == "POST" and urlsplit(r.path).path == path]


def test_first_deploy_links_the_project_deploys_and_passes_the_smoke_test(
    github: FakeGitHub, site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The very folder being deployed, served for real: the deployment's "live" URL.
    with (
        serve(site, tmp_path / "var") as server,
        FakeVercel(token=VERCEL_TOKEN, team_id=TEAM_ID, live_url=server.url) as vercel,
    ):
        result = deploy(capsys, site, "vercel", environ(github, vercel))
        assert result.code == 0, result.err
        # serve()'s own readiness checks hit /healthz too; only the smoke test asks for /, and
        # the real server answered it (the smoke test's summary is checked below). Access lines
        # are written by a thread a moment after the answer.
        answered = re.compile(r"forkable\.access: GET / 200 ")
        wait_until(lambda: answered.search(server.log.read_text()) is not None, timeout=10)
        assert "serving petpix" in server.log.read_text()

    repo = github.repo(REPO)
    assert repo.files() == pushed_files(site)
    project = vercel.project(SITE_ID)
    assert project is not None
    assert project["link"]["org"] == OWNER and project["link"]["repo"] == SITE_ID
    assert project["framework"] is None
    assert _posts(vercel, "/v11/projects")[0].json()["gitRepository"] == {
        "type": "github",
        "repo": REPO,
    }
    env = vercel.env[project["id"]]
    assert {key: entry["value"] for key, entry in env.items()} == {
        **SECRETS,
        "FORKABLE_ENV": "production",
    }
    assert {entry["type"] for entry in env.values()} == {"encrypted"}
    assert all(entry["target"] == ["production", "preview"] for entry in env.values())
    [deployment] = vercel.deployments.values()
    assert deployment.data["readyState"] == "READY"
    assert deployment.data["target"] == "production"
    assert deployment.data["gitSource"] == {
        "type": "github",
        "org": OWNER,
        "repo": SITE_ID,
        "ref": "main",
        "sha": repo.head(),
    }
    assert vercel.domains[DOMAIN]["projectId"] == project["id"]
    # Actions secrets: the site's, plus what a workflow needs to deploy to this project.
    assert repo.secrets == SECRETS | {
        "VERCEL_TOKEN": VERCEL_TOKEN,
        "VERCEL_ORG_ID": TEAM_ID,
        "VERCEL_PROJECT_ID": project["id"],
    }
    for request in vercel.requests:
        assert parse_qs(urlsplit(request.path).query)["teamId"] == [TEAM_ID]
        assert request.headers["authorization"] == f"Bearer {VERCEL_TOKEN}"

    assert f"smoke test: /healthz 200, / shows {SITE_NAME!r}" in result.out
    assert f"READY at {server.url}" in result.out
    assert [line.split(":")[0] for line in STEP_LINE.findall(result.out)] == [
        "github owner",
        "github repository",
        "github push",
        "vercel project",
        "github secrets",
        "vercel env",
        "vercel deployment",
        "vercel domain",
        "vercel ready",
        "smoke test",
    ]
    assert_no_leaks([result], site)


def test_second_deploy_updates_everything_in_place(
    github: FakeGitHub, vercel: FakeVercel, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environ(github, vercel)
    first = deploy(capsys, site, "vercel", env)
    assert first.code == 0, first.err
    repo = github.repo(REPO)
    first_commit = repo.head()
    (site / "assets" / "extra.css").write_text(":root { --radius: 4px }\n")

    second = deploy(capsys, site, "vercel", env)

    assert second.code == 0, second.err
    assert len(github.repos) == 1 and len(vercel.projects) == 1
    assert repo.git.commit(repo.history()[0]).parents == (first_commit,)
    assert len(_posts(vercel, "/v11/projects")) == 1
    assert [r.method for r in vercel.requests].count("PATCH") == 1
    assert len(vercel.env_upserts) == 2
    assert [d.data["gitSource"]["sha"] for d in vercel.deployments.values()] == [
        first_commit,
        repo.head(),
    ]
    assert f"vercel domain: {DOMAIN} already on the project" in second.out
    assert "vercel project: petpix updated" in second.out
    assert_no_leaks([first, second], site)


def test_a_failed_env_entry_is_an_error_naming_the_key(
    github: FakeGitHub, vercel: FakeVercel, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vercel.fail_env("STRIPE_SECRET_KEY", "ENV_CONFLICT", "A conflicting variable exists")
    result = deploy(capsys, site, "vercel", environ(github, vercel))

    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[0] == (
        "error: step 'vercel env' failed: Vercel refused 1 of 8 environment variables: "
        "STRIPE_SECRET_KEY: ENV_CONFLICT: A conflicting variable exists"
    )
    assert lines[1].startswith(f"error: already done: repository {REPO} exists; main at ")
    assert f"Vercel project {SITE_ID} exists" in lines[1]
    assert lines[2] == (
        "error: not done yet: Vercel environment variables, production deployment, domain, "
        "deployment ready, smoke test"
    )
    assert vercel.deployments == {}
    assert_no_leaks([result], site)


def test_a_vercel_rate_limit_is_waited_out(
    github: FakeGitHub, vercel: FakeVercel, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vercel.rate_limit_next(seconds=1.0, method="POST", path_contains="/v13/deployments")
    result = deploy(capsys, site, "vercel", environ(github, vercel))

    assert result.code == 0, result.err
    [(limited, asked)] = vercel.limited
    assert limited.status == 429 and asked == 1.0
    retry = next(c for c in vercel.log if c.at > limited.at and c.path == limited.path)
    # Waited as asked; how much longer is up to the machine, so no upper bound.
    assert retry.at - limited.at >= 0.95
    assert len(vercel.deployments) == 1
    assert "Vercel: rate limited on POST /v13/deployments; waiting 1.0 s" in result.out


def test_a_deployment_that_errors_fails_with_the_build_error(
    github: FakeGitHub, vercel: FakeVercel, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vercel.fail_next_deployment("BUILD_FAILED", 'Command "pip install" exited with 1')
    result = deploy(capsys, site, "vercel", environ(github, vercel))

    assert result.code == 1
    [deployment_id] = vercel.deployments
    first = result.err.splitlines()[0]
    assert first.startswith(
        f"error: step 'vercel ready' failed: deployment {deployment_id} ended ERROR: "
        'BUILD_FAILED: Command "pip install" exited with 1; logs: https://vercel.com/'
    )
    assert f"deployment {deployment_id} created; domain {DOMAIN} on the project" in result.err
    assert "not done yet: deployment ready, smoke test" in result.err


def test_a_smoke_test_that_finds_another_site_fails(
    github: FakeGitHub, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_the_site(request: RecordedRequest) -> Reply:
        status = 200 if request.path in ("/healthz", "/") else 404
        return Reply(status, b"<h1>Someone else's page</h1>")

    with (
        LoopbackServer(not_the_site) as other,
        FakeVercel(token=VERCEL_TOKEN, live_url=other.url) as vercel,
    ):
        result = deploy(capsys, site, "vercel", environ(github, vercel))

    assert result.code == 1
    assert "step 'smoke test' failed" in result.err
    assert f"does not show the site's name {SITE_NAME!r}" in result.err


def test_a_project_linked_to_another_repository_is_refused(
    github: FakeGitHub, vercel: FakeVercel, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vercel.add_project(SITE_ID, repo="someone/else")
    result = deploy(capsys, site, "vercel", environ(github, vercel))

    assert result.code == 1
    assert "is linked to github someone/else, not github octo/petpix" in result.err
    assert not [r for r in vercel.requests if r.method != "GET"]


def test_a_github_deploy_gives_actions_the_ids_of_an_existing_project(
    github: FakeGitHub, vercel: FakeVercel, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = vercel.add_project(SITE_ID, repo=REPO)
    result = deploy(capsys, site, "github", environ(github, vercel))

    assert result.code == 0, result.err
    secrets = github.repo(REPO).secrets
    assert secrets["VERCEL_PROJECT_ID"] == project["id"]
    assert secrets["VERCEL_ORG_ID"] == TEAM_ID
    assert [r.method for r in vercel.requests] == ["GET"]


def test_dry_run_lists_every_call_and_makes_none(
    github: FakeGitHub, vercel: FakeVercel, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environ(github, vercel)
    plan = deploy(capsys, site, "vercel", env, dry_run=True)

    assert plan.code == 0, plan.err
    assert github.requests == [] and vercel.requests == []
    assert f"POST   {vercel.url}/v11/projects?teamId={TEAM_ID}" in plan.out
    assert f"/v10/projects/{{projectId}}/env?teamId={TEAM_ID}&upsert=true" in plan.out
    assert "GET    http://{deployment url}/healthz" in plan.out
    assert_no_leaks([plan], site)

    real = deploy(capsys, site, "vercel", env)
    assert real.code == 0, real.err
    listed = {
        (line.split()[0], line.split()[1].removeprefix(github.url).removeprefix(vercel.url))
        for line in plan.out.splitlines()
        if line.startswith("  ")
    }
    for request in [*github.requests, *vercel.requests]:
        assert (request.method, template(request.path, OWNER)) in listed, request.path


def test_dry_run_prints_the_installed_size_of_the_function(
    github: FakeGitHub, vercel: FakeVercel, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environ(github, vercel)
    with_filter = deploy(capsys, site, "vercel", env, dry_run=True)
    manifest = site / "site.toml"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(x for x in lines if not x.startswith("fallback = ")) + "\n")
    gemini_only = deploy(capsys, site, "vercel", env, dry_run=True)

    assert with_filter.code == 0 and gemini_only.code == 0, with_filter.err + gemini_only.err
    size = re.compile(
        r"^function size: [\d.]+ MiB installed, (under|OVER) Vercel's 250\.0 MiB limit"
    )
    for plan in (with_filter, gemini_only):
        assert any(size.match(line) for line in plan.out.splitlines()), plan.out
        assert "function size, largest: " in plan.out
        assert "function size, measured from the " in plan.out
    wheel = re.compile(r"\./vendor/forkable-[^ ]+-py3-none-any\.whl")
    assert re.search(
        rf"^function requirement: {wheel.pattern}\[filters\] \(", with_filter.out, re.M
    )
    assert re.search(
        rf"^function requirement: {wheel.pattern} \(no local filter, so no OpenCV\)$",
        gemini_only.out,
        re.M,
    )
    assert github.requests == [] and vercel.requests == []
