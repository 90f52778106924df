"""`forkable fork ... --deploy vercel`: a new site, pushed, deployed and live, in one command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.serving import host_proxy, serve
from tests.support.remote_deploy import environ

from forkable.testing.fake_github import FakeGitHub
from forkable.testing.fake_vercel import FakeVercel

ROOT = Path(__file__).resolve().parents[3]


def test_fork_then_deploy_to_vercel_in_one_command(tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    shutil.copytree(ROOT / "examples" / "pencilsketch", sites / "pencilsketch")
    # A running multi-site server plays the deployment: the fork appears in its folder and
    # goes live without a restart; the proxy addresses it by the new site's host name.
    with (
        serve(sites, tmp_path / "var", env={"FORKABLE_SITES_POLL_SECONDS": "0.2"}) as server,
        host_proxy(server.url, "petpix.localhost") as live,
        FakeGitHub() as github,
        FakeVercel(live_url=live) as vercel,
    ):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "forkable",
                "fork",
                str(ROOT / "examples" / "coloringbook"),
                str(sites / "petpix"),
                "--name",
                "Pet Pix",
                "--deploy",
                "vercel",
            ],
            env={**os.environ, **environ(github, vercel)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        assert "smoke test: /healthz 200, / shows 'Pet Pix'" in result.stdout
        assert "github push" in result.stdout and "vercel ready" in result.stdout
        repo = github.repo(f"{github.login}/petpix")
        assert "site.toml" in repo.files() and "vercel.json" in repo.files()
        project = vercel.project("petpix")
        assert project is not None
        env = {key: entry["value"] for key, entry in vercel.env[project["id"]].items()}
        assert env["FORKABLE_ENV"] == "production"
    assert github.token not in result.stdout + result.stderr
    assert vercel.token not in result.stdout + result.stderr
