"""`forkable fork` as a user runs it: each example becomes a checked, committed repository."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageOps
from tests.serving import free_port, wait_until_healthy

import forkable
from forkable.providers.local import apply_filter
from forkable.testing.fake_gemini import FakeGemini

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
NAMES = ("coloringbook", "pencilsketch", "cartoonavatar")
SECRETS = (
    "DATABASE_URL",
    "REDIS_URL",
    "GEMINI_API_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "FORKABLE_METRICS_TOKEN",
    "SENTRY_DSN",
)
PIP = (sys.executable, "-m", "pip")
OFFLINE = ("--no-index", "--no-deps")
NO_GIT_IDENTITY = "cartoonavatar"  # forked with no git identity configured anywhere


def forkable_run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forkable", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
        check=False,
    )


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout


def options_for(name: str) -> dict[str, str]:
    return {
        "name": f"{name.title()} Pets",
        "tagline": f"Your pet, {name} style",
        "prompt": f"Redraw this pet photo in the {name} style with a plain background; keep the "
        "animal recognisable and add no text, no frame and no signature anywhere.",
        "primary_color": "#3a86ff",
    }


def without_git_identity(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    empty = home / "empty-gitconfig"
    empty.write_text("")
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_GLOBAL=str(empty),
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


@dataclass(frozen=True)
class Fork:
    source: Path
    dest: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fork]:
    """Each example forked once, side by side in one folder, the three forks run at once."""
    base = tmp_path_factory.mktemp("forks")
    started = {}
    for name in NAMES:
        dest = base / f"{name}-fork"
        new = options_for(name)
        command = [
            sys.executable,
            "-m",
            "forkable",
            "fork",
            str(EXAMPLES / name),
            str(dest),
            "--name",
            new["name"],
            "--tagline",
            new["tagline"],
            "--prompt",
            new["prompt"],
            "--primary-color",
            new["primary_color"],
            "--set",
            "pricing.packs[0].price_cents=599",
        ]
        env = without_git_identity(base.parent / "home") if name == NO_GIT_IDENTITY else None
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        started[name] = (dest, process, command)
    forks = {}
    for name, (dest, process, command) in started.items():
        stdout, stderr = process.communicate(timeout=180)
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        forks[name] = Fork(EXAMPLES / name, dest, result)
    return forks


@pytest.mark.parametrize("name", NAMES)
def test_each_example_forks_cleanly(forks: dict[str, Fork], name: str) -> None:
    fork = forks[name]
    assert fork.result.returncode == 0, fork.result.stderr
    assert fork.result.stderr == ""
    assert f"created {fork.dest}" in fork.result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_every_comment_of_the_source_manifest_is_kept(forks: dict[str, Fork], name: str) -> None:
    source = (forks[name].source / "site.toml").read_text()
    forked = (forks[name].dest / "site.toml").read_text()
    comments = [line[line.index("#") :] for line in source.splitlines() if "#" in line]
    comments = [c for c in comments if not re.match(r"#[0-9a-fA-F]{3,6}\"", c)]  # colors
    assert comments
    for comment in comments:
        assert comment in forked


@pytest.mark.parametrize("name", NAMES)
def test_the_options_change_the_values(forks: dict[str, Fork], name: str) -> None:
    source = tomllib.loads((forks[name].source / "site.toml").read_text())
    data = tomllib.loads((forks[name].dest / "site.toml").read_text())
    new = options_for(name)
    dest_name = forks[name].dest.name
    assert data["site"]["id"] == dest_name
    assert data["site"]["name"] == new["name"]
    assert data["site"]["tagline"] == new["tagline"]
    assert data["transform"]["prompt"] == new["prompt"]
    assert data["brand"]["primary_color"] == new["primary_color"]
    assert data["pricing"]["packs"][0]["price_cents"] == 599
    rest = source["site"]["domain"].split(".", 1)[1]
    assert data["site"]["domain"] == f"{dest_name}.{rest}"
    # Everything not asked for stays as it was.
    assert data["legal"] == source["legal"]
    assert data["pricing"]["packs"][1:] == source["pricing"]["packs"][1:]
    assert data["transform"].get("styles") == source["transform"].get("styles")


def test_forkable_check_passes_on_the_forks_served_together(forks: dict[str, Fork]) -> None:
    folder = forks[NAMES[0]].dest.parent
    result = forkable_run("check", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_fork_is_a_repository_with_one_commit(forks: dict[str, Fork], name: str) -> None:
    dest = forks[name].dest
    assert len(git(dest, "log", "--oneline").splitlines()) == 1
    assert git(dest, "status", "--porcelain") == ""
    assert git(dest, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    tracked = git(dest, "ls-files").splitlines()
    assert "site.toml" in tracked
    assert any(path.startswith("vendor/forkable-") for path in tracked)
    if name == NO_GIT_IDENTITY:
        assert (
            git(dest, "log", "-1", "--format=%an <%ae>").strip() == "forkable <forkable@localhost>"
        )


def test_vercel_json_routes_every_path_to_the_app(forks: dict[str, Fork]) -> None:
    dest = forks["coloringbook"].dest
    config = json.loads((dest / "vercel.json").read_text())
    routes = config.get("rewrites", []) + config.get("routes", [])
    catch_all = [r for r in routes if r.get("source", r.get("src")) == "/(.*)"]
    assert catch_all
    assert catch_all[0].get("destination", catch_all[0].get("dest")) in (
        "/api/index",
        "/api/index.py",
    )
    assert config["crons"][0]["path"] == "/api/v1/internal/maintenance"  # rewritten to the app
    function = config["functions"]["api/index.py"]
    assert function["maxDuration"] >= 60  # an image generation runs inside its request
    entry = (dest / "api" / "index.py").read_text()
    assert "app_from_environment()" in entry
    assert "FORKABLE_SITES" in entry


def test_env_example_names_every_secret(forks: dict[str, Fork]) -> None:
    lines = (forks["pencilsketch"].dest / ".env.example").read_text().splitlines()
    for name in SECRETS:
        assert f"{name}=" in lines, name
        above = lines[lines.index(f"{name}=") - 1]
        assert above.startswith("# "), f"{name} has no comment"


def test_requirements_pin_the_vendored_wheel_of_the_running_forkable(
    forks: dict[str, Fork],
) -> None:
    dest = forks["cartoonavatar"].dest
    lines = [
        line
        for line in (dest / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    wheel = f"vendor/forkable-{forkable.__version__}-py3-none-any.whl"
    # cartoonavatar falls back to the local cartoon filter: OpenCV comes with the extra.
    assert lines == [f"./{wheel}[filters]"]
    with zipfile.ZipFile(dest / wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"forkable-{forkable.__version__}.dist-info/METADATA").decode()
    assert "forkable/asgi.py" in names
    assert f"Version: {forkable.__version__}" in metadata


def test_secrets_and_local_state_are_ignored_by_git(forks: dict[str, Fork]) -> None:
    dest = forks["coloringbook"].dest
    for ignored in (".env", "var/forkable.sqlite3", ".venv/bin/python"):
        git(dest, "check-ignore", "--quiet", "--no-index", ignored)  # raises if not ignored
    result = subprocess.run(
        ["git", "-C", str(dest), "check-ignore", "--quiet", "--no-index", ".env.example"],
        check=False,
    )
    assert result.returncode == 1


def test_the_forks_smoke_test_passes(forks: dict[str, Fork], tmp_path: Path) -> None:
    path = forks["pencilsketch"].dest / "tests" / "test_smoke.py"
    spec = importlib.util.spec_from_file_location("forked_smoke_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
    assert tests
    for test in tests:
        test(tmp_path)


def assert_refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert words in lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--primary-color", "red"], "brand.primary_color: 'red' is not a color"),
        (["--id", "Bad_Id"], "site.id: 'Bad_Id' is not a valid id"),
        (["--set", "pricing.packs[0].tokens=0"], "pricing.packs[0].tokens:"),
        (["--set", "unknown.key=1"], "--set unknown.key: the top level has no key 'unknown'"),
        (["--set", "pricing.packs[7].tokens=5"], "pricing.packs has 3 entries"),
    ],
)
def test_invalid_values_are_refused_leaving_nothing(
    tmp_path: Path, args: list[str], words: str
) -> None:
    result = forkable_run("fork", str(EXAMPLES / "coloringbook"), str(tmp_path / "petpix"), *args)
    assert_refused(result, words)
    assert list(tmp_path.iterdir()) == []  # no DEST, no half-built hidden folder


def test_an_invalid_folder_name_as_default_id_says_how_to_fix_it(tmp_path: Path) -> None:
    result = forkable_run("fork", str(EXAMPLES / "coloringbook"), str(tmp_path / "Pet_Pix"))
    assert_refused(result, "pass --id")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_dest_is_refused_and_left_alone(tmp_path: Path) -> None:
    dest = tmp_path / "petpix"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    result = forkable_run("fork", str(EXAMPLES / "coloringbook"), str(dest))
    assert_refused(result, "already exists")
    assert [p.name for p in tmp_path.iterdir()] == ["petpix"]
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    assert (dest / "notes.txt").read_text() == "mine"


def test_an_id_clash_in_a_folder_of_sites_is_refused(tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    shutil.copytree(EXAMPLES / "coloringbook", sites / "coloringbook")
    result = forkable_run(
        "fork", str(EXAMPLES / "pencilsketch"), str(sites / "newsite"), "--id", "coloringbook"
    )
    assert_refused(result, "'coloringbook' is already the id of")
    assert [p.name for p in sites.iterdir()] == ["coloringbook"]


def test_a_failure_after_building_leaves_nothing_behind(tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    env = {**os.environ, "PATH": str(empty_path)}  # no git on PATH: the very last step fails
    dest = tmp_path / "new" / "parents" / "petpix"
    result = forkable_run("fork", str(EXAMPLES / "coloringbook"), str(dest), env=env)
    assert_refused(result, "git is not installed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


def test_dry_run_lists_the_files_and_writes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "petpix"
    result = forkable_run("fork", str(EXAMPLES / "coloringbook"), str(dest), "--dry-run")
    assert result.returncode == 0, result.stderr
    for path in (
        "site.toml",
        "assets/logo.svg",
        "Dockerfile",
        "compose.yaml",
        "vercel.json",
        "api/index.py",
        ".github/workflows/deploy.yml",
        ".env.example",
        "requirements.txt",
        "tests/test_smoke.py",
        ".gitignore",
        "README.md",
        f"vendor/forkable-{forkable.__version__}-py3-none-any.whl",
    ):
        assert re.search(rf"^  {re.escape(path)}  \(", result.stdout, re.MULTILINE), path
    assert "nothing was written" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_links_in_the_source_are_copied_as_links_never_followed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("home-secret-5e1d")
    source = tmp_path / "source"
    shutil.copytree(EXAMPLES / "coloringbook", source)
    (source / "assets" / "home").symlink_to(home, target_is_directory=True)
    (source / "assets" / "key.png").symlink_to(home / ".ssh" / "id_rsa")
    dest = tmp_path / "petpix"
    result = forkable_run("fork", str(source), str(dest), "--no-git")
    assert result.returncode == 0, result.stderr
    assert (dest / "assets" / "home").is_symlink()
    assert (dest / "assets" / "key.png").is_symlink()
    for path in dest.rglob("*"):
        if (
            path.is_file()
            and not path.is_symlink()
            and (dest / "assets" / "home") not in path.parents
        ):
            assert b"home-secret-5e1d" not in path.read_bytes(), path


def offline_env() -> dict[str, str]:
    """This environment without a model key: examples come from the local filter."""
    hidden = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "FORKABLE_ENV", "FORKABLE_GEMINI_BASE_URL")
    return {k: v for k, v in os.environ.items() if k not in hidden}


def test_regenerate_examples_remakes_the_after_images(tmp_path: Path) -> None:
    source = EXAMPLES / "coloringbook"
    dest = tmp_path / "sketchbook"
    dest.mkdir()  # an empty folder made for the fork is fine
    result = forkable_run(
        "fork",
        str(source),
        str(dest),
        "--set",
        'transform.fallback="pencil_sketch"',
        "--regenerate-examples",
        "--no-git",
        env=offline_env(),
    )
    assert result.returncode == 0, result.stderr
    assert "re-made 2 example images with local:pencil_sketch" in result.stdout
    # The coloring book's style parameters mean nothing to the pencil sketch filter.
    assert "removed detail, line_thickness from transform.styles[0].params" in result.stdout
    assert not (dest / ".git").exists()
    examples = dest / "assets" / "examples"
    for before in sorted((source / "assets" / "examples").glob("*-before.*")):
        after_name = before.name.replace("-before.jpg", "-after.png")
        assert (examples / before.name).read_bytes() == before.read_bytes()
        remade = (examples / after_name).read_bytes()
        assert remade != (source / "assets" / "examples" / after_name).read_bytes()
        with Image.open(before) as image:
            expected = apply_filter("pencil_sketch", ImageOps.exif_transpose(image).convert("RGB"))
        with Image.open(examples / after_name) as written:
            assert np.array_equal(np.asarray(written), np.asarray(expected))
    check = forkable_run("check", str(dest))
    assert check.returncode == 0, check.stderr


def test_regenerate_examples_uses_the_model_when_a_key_is_set(tmp_path: Path) -> None:
    dest = tmp_path / "petpix"
    prompt = "Turn this pet photo into a bold poster with three flat colours and no text at all."
    with FakeGemini() as fake:
        env = {**offline_env(), "GEMINI_API_KEY": "k", "FORKABLE_GEMINI_BASE_URL": fake.url}
        result = forkable_run(
            "fork",
            str(EXAMPLES / "pencilsketch"),
            str(dest),
            "--prompt",
            prompt,
            "--regenerate-examples",
            "--no-git",
            env=env,
        )
        calls = list(fake.calls)
    assert result.returncode == 0, result.stderr
    assert "re-made 2 example images with" in result.stdout
    assert "offline" not in result.stdout
    assert [call.prompt for call in calls] == [prompt, prompt]
    assert all(len(call.images) == 1 for call in calls)
    for after in ("astronaut-after.png", "chelsea-after.png"):
        old = (EXAMPLES / "pencilsketch" / "assets" / "examples" / after).read_bytes()
        assert (dest / "assets" / "examples" / after).read_bytes() != old


@pytest.mark.slow
def test_a_fork_runs_from_its_own_repository_in_a_fresh_venv(
    forks: dict[str, Fork], tmp_path: Path
) -> None:
    """forkable comes from the fork's vendored wheel; only third-party packages are borrowed."""
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", str(forks["coloringbook"].dest), str(clone)], check=True
    )
    venv = clone / ".venv"
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    # The fork's own requirements file, offline; --no-deps because the wheel's dependencies
    # come from PyPI in a real install, and here from the test venv (below).
    subprocess.run(
        [*PIP, "--python", str(python), "install", "--quiet", *OFFLINE, "-r", "requirements.txt"],
        cwd=clone,
        env=env,
        check=True,
        timeout=120,
    )
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # A .pth line goes after the venv's own site-packages: forkable resolves to the fork's.
    borrowed = Path(next(p for p in sys.path if p.endswith("site-packages")))
    (site_packages / "zz_borrowed_dependencies.pth").write_text(f"{borrowed}\n")
    where = subprocess.run(
        [str(python), "-c", "import forkable; print(forkable.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), where

    smoke = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr

    name = options_for("coloringbook")["name"]
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(venv / "bin" / "forkable"), "serve", str(clone), "--port", str(port)],
            env={**env, "FORKABLE_DATA_DIR": str(tmp_path / "data")},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server, timeout=60)
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        landing = httpx.get(f"{url}/")
        assert landing.status_code == 200
        assert name in landing.text
    except Exception:
        sys.stderr.write(log.read_text(errors="replace"))
        raise
    finally:
        server.terminate()
        server.wait(timeout=15)

    # Forking the fork from there repacks the installed wheel: the same code travels on.
    second = tmp_path / "second"
    fork = subprocess.run(
        [str(venv / "bin" / "forkable"), "fork", str(clone), str(second), "--no-git"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert fork.returncode == 0, fork.stderr
    wheel = f"vendor/forkable-{forkable.__version__}-py3-none-any.whl"
    assert wheel_contents(second / wheel) == wheel_contents(clone / wheel)


def wheel_contents(path: Path) -> dict[str, bytes]:
    """Every member but RECORD (its order is the packer's choice)."""
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if not n.endswith("/RECORD")}
