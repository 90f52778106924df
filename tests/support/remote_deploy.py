"""Helpers for the GitHub and Vercel deploy tests: a forked site, its environment, leak checks."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from forkable.cli.remote_deploy import run_remote_deploy
from forkable.deploy.bundle import GENERATED_FILES
from forkable.testing.fake_github import FakeGitHub
from forkable.testing.fake_vercel import FakeVercel

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "coloringbook"
SITE_ID = "petpix"
SITE_NAME = "PetPix Studio & Co"  # an ampersand: the landing page shows it HTML-escaped
DOMAIN = "petpix.example.com"
GITHUB_TOKEN = "ghp_TESTtoken0123456789abcdefXYZ"
VERCEL_TOKEN = "vcl_TESTtoken9876543210zyxwvuQ"
TEAM_ID = "team_petpix01"
HOME_SECRET = "home-secret-never-pushed-5e1d"
# What the site's .env gives, as a fork's owner would write it.
SECRETS = {
    "FORKABLE_METRICS_TOKEN": "fk-metrics-8f2a61d0c4b7e935a0d6c1f2e9b8",
    "DATABASE_URL": "postgresql://petpix:pw-71c3e@db.example.com/petpix",
    "GEMINI_API_KEY": "AIza-test-gemini-4d9e2b",
    "STRIPE_SECRET_KEY": "sk_test_stripe_51f0aa",
    "SENTRY_DSN": "https://a1b2c3@o1.ingest.sentry.example.com/42",
    "FORKABLE_MEDIA_URL": "s3://petpix-media/site",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-for-the-bucket-0f9e",
}
ENV_FILE = f"""# secrets for {SITE_ID}; never pushed
FORKABLE_METRICS_TOKEN={SECRETS["FORKABLE_METRICS_TOKEN"]}
DATABASE_URL = {SECRETS["DATABASE_URL"]}

GEMINI_API_KEY='{SECRETS["GEMINI_API_KEY"]}'
export STRIPE_SECRET_KEY="{SECRETS["STRIPE_SECRET_KEY"]}"
SENTRY_DSN={SECRETS["SENTRY_DSN"]}
REDIS_URL=
FORKABLE_MEDIA_URL={SECRETS["FORKABLE_MEDIA_URL"]}
AWS_SECRET_ACCESS_KEY={SECRETS["AWS_SECRET_ACCESS_KEY"]}
UNRELATED_SETTING=not-a-deploy-secret
"""


def make_site(parent: Path) -> Path:
    """A fork of examples/coloringbook with a `.env`, local state and a binary file."""
    folder = parent / SITE_ID
    shutil.copytree(EXAMPLE, folder)
    manifest = folder / "site.toml"
    text = manifest.read_text(encoding="utf-8")
    text = text.replace('id = "coloringbook"', f'id = "{SITE_ID}"', 1)
    text = text.replace('name = "ColoringBook AI"', f'name = "{SITE_NAME}"', 1)
    text = text.replace('domain = "coloringbook.example.com"', f'domain = "{DOMAIN}"', 1)
    manifest.write_text(text, encoding="utf-8")
    (folder / ".env").write_text(ENV_FILE, encoding="utf-8")
    (folder / "assets" / "all-bytes.png").write_bytes(bytes(range(256)) * 4)
    # Local state that must never be pushed.
    for junk in ("var/forkable.sqlite3", "__pycache__/site.cpython-311.pyc", ".git/HEAD"):
        (folder / junk).parent.mkdir(parents=True, exist_ok=True)
        (folder / junk).write_bytes(b"local only\n")
    (folder / "assets" / "stale.pyc").write_bytes(b"\x00compiled")
    # Secrets and links that must never be pushed either (LEFT_BEHIND).
    (folder / ".envrc").write_text(f"export AWS_SECRET_ACCESS_KEY={HOME_SECRET}\n")
    (folder / "deploy-key.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{HOME_SECRET}\n")
    (folder / "notes.txt").write_text("not part of the site\n")
    home = parent / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "id_rsa").write_text(HOME_SECRET)
    (folder / "assets" / "home").symlink_to(home, target_is_directory=True)
    (folder / "assets" / "key.png").symlink_to(home / ".ssh" / "id_rsa")
    return folder


# What make_site adds that a deploy must name in its dry run and never push.
LEFT_BEHIND = {
    ".envrc": "looks like a secret",
    "deploy-key.pem": "looks like a secret",
    "notes.txt": "not part of a site",
    "assets/home/": "symbolic link, not followed",
    "assets/key.png": "symbolic link, not followed",
}


def pushed_files(folder: Path) -> dict[str, bytes]:
    """What a deploy must push: site.toml, the generated files, the wheel and asset images."""
    files: dict[str, bytes] = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        name = relative.as_posix()
        if path.is_symlink() or not path.is_file() or (folder / "assets" / "home") in path.parents:
            continue
        wanted = (
            name == "site.toml"
            or name in GENERATED_FILES
            or (relative.parts[0] == "vendor" and path.suffix == ".whl")
            or (relative.parts[0] == "assets" and path.suffix in {".svg", ".png", ".jpg", ".css"})
        )
        if wanted:
            files[name] = path.read_bytes()
    return files


def environ(github: FakeGitHub, vercel: FakeVercel | None = None, **extra: str) -> dict[str, str]:
    """The deploy's environment: tokens and API URLs of the fakes, fast polling."""
    env = {
        "GITHUB_TOKEN": github.token,
        "FORKABLE_GITHUB_API": github.url,
        "FORKABLE_DEPLOY_MAX_WAIT": "20",
    }
    if vercel is not None:
        env |= {
            "VERCEL_TOKEN": vercel.token,
            "FORKABLE_VERCEL_API": vercel.url,
            "FORKABLE_VERCEL_POLL_INTERVAL": "0.05",
            "FORKABLE_VERCEL_LIVE_SCHEME": "http",  # the fake's "live" site is a loopback server
        }
        if vercel.team_id:
            env["VERCEL_TEAM_ID"] = vercel.team_id
    return env | extra


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def deploy(
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    target: str,
    env: dict[str, str],
    *,
    dry_run: bool = False,
) -> Outcome:
    """Run what `forkable deploy FOLDER --target TARGET` runs; capture its output."""
    code = 0
    try:
        run_remote_deploy(folder, target, dry_run, environ=env)
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def assert_no_leaks(outcomes: list[Outcome], folder: Path, *, values: bool = True) -> None:
    """Tokens appear in no output and no file of the site; .env values in no output."""
    texts = [o.out + o.err for o in outcomes]
    secrets = [GITHUB_TOKEN, VERCEL_TOKEN, *(SECRETS.values() if values else ())]
    for secret in secrets:
        for text in texts:
            assert secret not in text
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert GITHUB_TOKEN.encode() not in data, path
            assert VERCEL_TOKEN.encode() not in data, path


STEP_LINE = re.compile(r"^[a-z ]+: .+ \(\d+\.\d\d s\)$", re.MULTILINE)


def template(path: str, owner: str) -> str:
    """A recorded path with its ids replaced by a dry run's placeholders."""
    path = re.sub(r"\b[0-9a-f]{40}\b", "{sha}", path)
    path = re.sub(r"\bprj_[A-Za-z0-9]+", "{projectId}", path)
    path = re.sub(r"\bdpl_[A-Za-z0-9]+", "{deploymentId}", path)
    return path.replace(f"/{owner}/", "/{owner}/")
