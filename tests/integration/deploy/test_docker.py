"""Generated deploy files pass their ecosystems' linters; `forkable deploy --target docker`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from tests.conftest import missing_service

import forkable
from forkable.cli import deploy as cli_deploy
from forkable.deploy import lint
from forkable.deploy.bundle import render_bundle, write_bundle
from forkable.deploy.docker import DockerError, deploy_docker
from forkable.deploy.lint import find_tool
from forkable.deploy.wheel import VendoredWheel
from forkable.manifest import load_site

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
NAMES = ("coloringbook", "pencilsketch", "cartoonavatar")
# Rendering never looks inside the wheel: a stand-in keeps these tests fast.
WHEEL = VendoredWheel(f"forkable-{forkable.__version__}-py3-none-any.whl", b"not a real wheel")
LINTERS = {
    "Dockerfile": ["hadolint", "--no-color"],
    "compose.yaml": ["check-jsonschema", "--builtin-schema", "vendor.compose-spec"],
    ".github/workflows/deploy.yml": [
        "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
    ],
}


def tool(name: str) -> str:
    found = find_tool(name)
    if found is None:
        missing_service(f"{name} is not installed")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example's generated files, written to a folder each."""
    folders = {}
    for name in NAMES:
        site = load_site(EXAMPLES / name)
        folder = tmp_path_factory.mktemp(name)
        write_bundle(folder, render_bundle(site.folder, site.manifest, WHEEL))
        folders[name] = folder
    return folders


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("path", sorted(LINTERS))
def test_generated_files_pass_their_linters(
    rendered: dict[str, Path], name: str, path: str
) -> None:
    command = LINTERS[path]
    result = subprocess.run(
        [tool(command[0]), *command[1:], path],
        cwd=rendered[name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_runs_the_vendored_forkable_as_a_non_root_user(
    rendered: dict[str, Path],
) -> None:
    text = (rendered["coloringbook"] / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert "COPY vendor/ vendor/" in lines
    assert "RUN pip install --no-cache-dir -r requirements.txt" in lines
    users = [line for line in lines if line.startswith("USER ")]
    assert users and users[-1] != "USER root" and not users[-1].startswith("USER 0")
    assert "HEALTHCHECK" in text and "/healthz" in text.split("HEALTHCHECK", 1)[1]
    assert lines[-1] == 'CMD ["forkable", "serve", ".", "--host", "0.0.0.0", "--port", "8000"]'


def test_compose_runs_the_site_with_postgres_and_redis(rendered: dict[str, Path]) -> None:
    compose = YAML(typ="safe").load((rendered["pencilsketch"] / "compose.yaml").read_text())
    services = compose["services"]
    assert {"web", "db", "redis"} <= set(services)
    for name in ("web", "db", "redis"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["volumes"], name
    web = services["web"]
    assert web["env_file"][0]["path"] == ".env"
    assert web["environment"]["FORKABLE_DATABASE_URL"].startswith("postgresql://")
    assert web["environment"]["FORKABLE_REDIS_URL"].startswith("redis://redis:")
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["forkable", "db", "upgrade"]


def test_the_workflow_checks_tests_and_deploys_main_to_vercel(rendered: dict[str, Path]) -> None:
    text = (rendered["cartoonavatar"] / ".github/workflows/deploy.yml").read_text()
    workflow = YAML(typ="safe").load(text)
    check_steps = [step.get("run", "") for step in workflow["jobs"]["check"]["steps"]]
    assert "forkable check ." in check_steps
    assert any("pytest" in run and "tests" in run for run in check_steps)
    deploy = workflow["jobs"]["deploy"]
    assert "refs/heads/main" in deploy["if"]
    runs = "\n".join(step.get("run", "") for step in deploy["steps"])
    for command in ("pull", "build", "deploy --prebuilt --prod"):
        assert f"vercel@latest {command}" in runs
    assert "--token=${{ secrets.VERCEL_TOKEN }}" in runs


def test_the_workflow_audits_the_dependencies_strictly_before_anything_deploys(
    rendered: dict[str, Path],
) -> None:
    workflow = YAML(typ="safe").load(rendered["coloringbook"] / ".github/workflows/deploy.yml")
    steps = workflow["jobs"]["check"]["steps"]
    names = [step.get("name") for step in steps]
    audit = steps[names.index("Audit the dependencies")]
    assert names.index("Install the vendored forkable") < names.index("Audit the dependencies")
    command = audit["run"].splitlines()[-1]
    assert command.startswith("python -m pip_audit --strict --vulnerability-service osv")
    assert "continue-on-error" not in audit
    assert workflow["jobs"]["deploy"]["needs"] == "check"


def copy_of(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    return folder


def test_deploy_docker_writes_checked_files_and_prints_the_commands(tmp_path: Path) -> None:
    tool("hadolint")
    tool("check-jsonschema")
    site = copy_of("cartoonavatar", tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "forkable", "deploy", str(site), "--target", "docker"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "checked: Dockerfile (hadolint)" in result.stdout
    assert "checked: compose.yaml (check-jsonschema)" in result.stdout
    assert "docker compose up --build" in result.stdout
    wheel = f"vendor/forkable-{forkable.__version__}-py3-none-any.whl"
    for path in ("Dockerfile", ".dockerignore", "compose.yaml", "requirements.txt", wheel):
        assert (site / path).is_file(), path
        assert f"created: {site / path}" in result.stdout


def test_deploy_docker_dry_run_writes_nothing(tmp_path: Path) -> None:
    site = copy_of("coloringbook", tmp_path)
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    result = deploy_docker(site, dry_run=True, wheel=WHEEL)
    assert "Dockerfile" in result.files
    assert result.written == []
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == before
    assert any("docker compose up --build" in command for command in result.commands)


def test_deploy_docker_again_updates_only_what_changed(tmp_path: Path) -> None:
    site = copy_of("pencilsketch", tmp_path)
    stale = site / "vendor" / "forkable-0.0.1-py3-none-any.whl"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    first = deploy_docker(site, wheel=WHEEL)
    assert {w.path: w.status for w in first.written}["vendor/forkable-0.0.1-py3-none-any.whl"] == (
        "removed"
    )
    assert not stale.exists()
    (site / "Dockerfile").write_text("FROM scratch\n")
    second = deploy_docker(site, wheel=WHEEL)
    statuses = {w.path: w.status for w in second.written}
    assert statuses["Dockerfile"] == "updated"
    assert statuses["compose.yaml"] == "unchanged"


def test_files_that_fail_their_checks_are_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = copy_of("coloringbook", tmp_path)
    monkeypatch.setitem(lint.LINTERS, "Dockerfile", ("false",))  # a linter that always objects
    with pytest.raises(DockerError) as caught:
        deploy_docker(site, wheel=WHEEL)
    assert caught.value.problems == ["Dockerfile: false exited with 1"]
    assert not (site / "Dockerfile").exists()


def test_deploy_refuses_a_broken_site_in_one_line(tmp_path: Path) -> None:
    site = copy_of("coloringbook", tmp_path)
    manifest = site / "site.toml"
    manifest.write_text(manifest.read_text().replace('"#ff6b6b"', '"pink"'))
    result = subprocess.run(
        [sys.executable, "-m", "forkable", "deploy", str(site), "--target", "docker"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "brand.primary_color" in result.stderr
    assert not (site / "Dockerfile").exists()


def test_deploy_refuses_an_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_deploy.run_deploy(EXAMPLES / "coloringbook", "heroku", dry_run=True)
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "error: --target 'heroku': choose one of vercel, docker, github\n"
    )


@pytest.mark.parametrize("target", ["vercel", "github"])
def test_remote_targets_without_their_module_fail_in_one_line(
    target: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(cli_deploy.importlib, "import_module", missing)
    with pytest.raises(SystemExit) as exited:
        cli_deploy.run_deploy(EXAMPLES / "coloringbook", target, dry_run=True)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"the {target} target is not available" in err


@pytest.mark.parametrize("target", ["vercel", "github"])
def test_remote_targets_are_handed_to_the_remote_module(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, str, bool]] = []

    class Remote:
        @staticmethod
        def run_remote_deploy(path: Path, target: str, dry_run: bool) -> None:
            calls.append((path, target, dry_run))

    monkeypatch.setattr(cli_deploy.importlib, "import_module", lambda name: Remote)
    cli_deploy.run_deploy(EXAMPLES / "pencilsketch", target.upper(), dry_run=True)
    assert calls == [(EXAMPLES / "pencilsketch", target, True)]
