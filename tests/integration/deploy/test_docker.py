"""Generated deploy files pass their ecosystems' linters; `forkable deploy --target docker`."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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
from forkable.settings import load_settings

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


def compose_of(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((folder / "compose.yaml").read_text())
    return loaded


# Every service the scale-out issue asks for, and the two that set up the bucket and schema.
LONG_RUNNING = {"proxy", "web", "worker", "db", "redis", "minio"}
ONE_SHOT = {"migrate", "bucket"}
APP_SERVICES = ("web", "worker", "migrate")


def test_compose_names_every_service_of_the_scaled_out_site(rendered: dict[str, Path]) -> None:
    services = compose_of(rendered["pencilsketch"])["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", name
        assert "healthcheck" not in services[name], name
    for name in ("db", "redis", "minio"):
        assert services[name]["volumes"], name
    assert services["db"]["image"] == "postgres:15-alpine"
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.")


def test_web_runs_twice_serving_http_only_behind_the_one_published_port(
    rendered: dict[str, Path],
) -> None:
    services = compose_of(rendered["coloringbook"])["services"]
    web = services["web"]
    assert web["command"][:3] == ["forkable", "serve", "."]
    assert "--no-jobs" in web["command"]
    assert web["deploy"]["replicas"] == 2
    assert "/readyz" in " ".join(web["healthcheck"]["test"])
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["ports"] == ["${FORKABLE_PORT:-8000}:8000"]
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_proxy_balances_over_every_web_replica(rendered: dict[str, Path]) -> None:
    compose = compose_of(rendered["coloringbook"])
    mount = compose["services"]["proxy"]["configs"][0]
    assert mount["target"] == "/etc/caddy/Caddyfile"
    caddyfile = compose["configs"][mount["source"]]["content"]
    assert re.search(r"^\s*name web$", caddyfile, re.MULTILINE)
    assert re.search(r"^\s*port 8000$", caddyfile, re.MULTILINE)
    assert "lb_policy round_robin" in caddyfile


def test_the_proxy_config_is_valid_caddy(rendered: dict[str, Path], tmp_path: Path) -> None:
    caddy = find_tool("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (optional: `caddy validate` of the proxy config)")
    compose = compose_of(rendered["cartoonavatar"])
    (tmp_path / "Caddyfile").write_text(compose["configs"]["caddyfile"]["content"])
    result = subprocess.run(
        [caddy, "validate", "--config", "Caddyfile", "--adapter", "caddyfile"],
        cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_worker_runs_jobs_and_gets_longer_than_a_lease_to_stop(
    rendered: dict[str, Path],
) -> None:
    worker = compose_of(rendered["pencilsketch"])["services"]["worker"]
    assert worker["command"] == ["forkable", "worker", "."]
    assert "ports" not in worker
    # Its health check asks the database its jobs come from (no `worker --check` exists).
    assert "psycopg.connect" in " ".join(worker["healthcheck"]["test"])
    grace = int(worker["stop_grace_period"].removesuffix("s"))
    assert grace > load_settings({}).job_lease_seconds


def test_every_app_service_reaches_postgres_redis_and_the_bucket(
    rendered: dict[str, Path],
) -> None:
    services = compose_of(rendered["pencilsketch"])["services"]
    minio = services["minio"]["environment"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["env_file"][0]["path"] == ".env", name
        env = service["environment"]
        assert env["FORKABLE_DATABASE_URL"].startswith("postgresql://forkable:"), name
        assert env["FORKABLE_DATABASE_URL"].endswith("@db:5432/forkable"), name
        assert env["FORKABLE_REDIS_URL"].startswith("redis://redis:"), name
        assert env["FORKABLE_MEDIA_URL"] == "s3://forkable/media", name
        assert env["AWS_ENDPOINT_URL_S3"] == "http://minio:9000", name
        assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"], name
        assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"], name
        assert env["AWS_REGION"], name
    # The one-shot bucket service makes the bucket the media URL names.
    assert "mc mb --ignore-existing local/forkable" in services["bucket"]["command"][0]
    assert services["migrate"]["command"] == ["forkable", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        for ready in ("db", "redis", "minio"):
            assert depends[ready]["condition"] == "service_healthy", (name, ready)
        for done in ONE_SHOT:
            assert depends[done]["condition"] == "service_completed_successfully", (name, done)


def test_the_app_trusts_forwarded_headers_from_the_proxy_alone(
    rendered: dict[str, Path],
) -> None:
    compose = compose_of(rendered["coloringbook"])
    services = compose["services"]
    proxy_address = services["proxy"]["networks"]["edge"]["ipv4_address"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["FORKABLE_TRUSTED_PROXIES"] == proxy_address, name
    settings = load_settings({"FORKABLE_TRUSTED_PROXIES": proxy_address})
    assert settings.trusted_proxies == (proxy_address,)
    # A fixed address in the edge network that no replica can be given.
    (pool,) = compose["networks"]["edge"]["ipam"]["config"]
    address = ipaddress.ip_address(proxy_address)
    assert address in ipaddress.ip_network(pool["subnet"])
    assert address not in ipaddress.ip_network(pool["ip_range"])
    assert set(services["web"]["networks"]) == {"default", "edge"}
    assert set(services["proxy"]["networks"]) == {"edge"}


def test_env_example_lists_every_variable_compose_reads(rendered: dict[str, Path]) -> None:
    folder = rendered["cartoonavatar"]
    read = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", (folder / "compose.yaml").read_text()))
    assert read == {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "FORKABLE_PORT"}
    listed = {
        line.split("=", 1)[0]
        for line in (folder / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert read <= listed
    assert {"FORKABLE_MEDIA_URL", "REDIS_URL", "DATABASE_URL"} <= listed


def test_the_docs_describe_every_compose_service_and_link_the_scaling_guide(
    rendered: dict[str, Path],
) -> None:
    deployment = (ROOT / "docs" / "deployment.md").read_text()
    for name in compose_of(rendered["coloringbook"])["services"]:
        assert f"`{name}`" in deployment, name
    assert "(scaling.md)" in deployment
    assert "docs/scaling.md" in (ROOT / "README.md").read_text()
    scaling = (ROOT / "docs" / "scaling.md").read_text()
    for heading in ("## Topology", "## Sizing", "## When a piece fails"):
        assert heading in scaling, heading


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
    assert any("--scale web=" in command for command in result.commands)


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
