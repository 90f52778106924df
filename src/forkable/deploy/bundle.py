"""Every file that makes a site folder a deployable repository, rendered as bytes by path.

`forkable fork` writes all of them; each `forkable deploy` target writes the ones it ships
(`TARGET_FILES`). Rendering is pure: the same manifest and wheel give the same bytes.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from forkable.deploy.wheel import VENDOR_DIR, VendoredWheel
from forkable.manifest import Manifest
from forkable.manifest.schema import line_breaking_character
from forkable.providers.local.registry import EXTRA as FILTERS_EXTRA
from forkable.sites import ASSETS_DIR

PYTHON_VERSION = "3.11"  # the image's Python; Vercel runs its own default (3.12 or later)
POSTGRES_VERSION = "15"
REDIS_VERSION = "7"
CADDY_VERSION = "2"  # compose.yaml's reverse proxy in front of the web replicas
# MinIO tags dated releases, not versions: pinned, so every `up` runs the same store. Any
# S3-compatible store can take its place (compose.yaml says how).
MINIO_VERSION = "RELEASE.2025-09-07T16-13-09Z"
MINIO_CLIENT_VERSION = "RELEASE.2025-08-13T08-35-41Z"
NODE_VERSION = "20"
MAX_DURATION = 300  # seconds: a generation runs inside its request on Vercel
MAINTENANCE_PATH = "/api/v1/internal/maintenance"  # reaps expired leases; needs CRON_SECRET
# Daily is the most often every Vercel plan allows (Hobby refuses a deploy with more); on Pro,
# "*/5 * * * *" returns the tokens of a generation cut off by a timeout within minutes.
CRON_SCHEDULE = "17 4 * * *"

WHEEL = "vendor wheel"  # stands for the vendored wheel's path in TARGET_FILES
DOCKER_FILES = (
    "Dockerfile",
    ".dockerignore",
    "compose.yaml",
    "requirements.txt",
    ".env.example",
    WHEEL,
)
VERCEL_FILES = ("api/index.py", "vercel.json", ".vercelignore", "requirements.txt", WHEEL)
GITHUB_FILES = (".github/workflows/deploy.yml", "tests/test_smoke.py", ".gitignore")
TARGET_FILES: Mapping[str, tuple[str, ...]] = {
    "docker": DOCKER_FILES,
    "vercel": VERCEL_FILES,
    "github": GITHUB_FILES,
}

# What a path may be to stand unquoted in a Dockerfile COPY line: no variables ($), globs
# (*?[), quotes, spaces or escapes. The manifest schema allows no other asset paths.
_DOCKER_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")


class UnsafeValue(ValueError):
    """A value would break out of its place in a generated file; nothing is rendered."""


def one_line(value: object) -> object:
    """Every value written into a generated file stays on its line (Jinja's ``finalize``).

    A line break in a name would otherwise add lines to a Dockerfile, a workflow or
    `.env.example`; the manifest schema refuses them, and this keeps any future value honest.
    """
    found = line_breaking_character(str(value)) if value is not None else None
    if found:
        raise UnsafeValue(f"{value!r} contains {found} and cannot be written into a generated file")
    return value


def python_docstring(value: object) -> str:
    """Text safe inside a triple-double-quoted Python string: no closing quotes, no escapes."""
    return str(one_line(value)).replace("\\", "\\\\").replace('"', '\\"')


def yaml_string(value: object) -> str:
    """A double-quoted YAML scalar (JSON's string syntax, which YAML 1.2 includes)."""
    return json.dumps(str(one_line(value)))


def docker_path(value: object) -> str:
    """A path for a Dockerfile COPY line; anything that Docker would expand is refused."""
    text = str(value)
    if not _DOCKER_PATH.fullmatch(text) or ".." in text.split("/"):
        raise UnsafeValue(f"{text!r} cannot be written into a Dockerfile COPY line")
    return text


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # noqa: S701  # Dockerfiles, YAML, Markdown and Python: never HTML
    finalize=one_line,
)
_TEMPLATES.filters.update(
    python_docstring=python_docstring, yaml_string=yaml_string, docker_path=docker_path
)


# Generated file -> its template.
_TEMPLATED = {
    "Dockerfile": "Dockerfile.j2",
    ".dockerignore": "dockerignore.j2",
    "compose.yaml": "compose.yaml.j2",
    "requirements.txt": "requirements.txt.j2",
    "api/index.py": "index.py.j2",
    ".vercelignore": "vercelignore.j2",
    ".github/workflows/deploy.yml": "deploy.yml.j2",
    "tests/test_smoke.py": "test_smoke.py.j2",
    ".gitignore": "gitignore.j2",
    "README.md": "README.md.j2",
}
# Every file `render_bundle` makes, besides the vendored wheel.
GENERATED_FILES = frozenset({*_TEMPLATED, "vercel.json", ".env.example"})


@dataclass(frozen=True)
class EnvVar:
    """One variable of `.env.example`: what it is for, and whether production needs it."""

    name: str
    comment: str
    required: bool
    example: str = ""


def environment_for(manifest: Manifest) -> list[EnvVar]:
    """The variables (mostly secrets) a deployment of this site needs, in `.env.example` order."""
    uses_gemini = manifest.transform.provider == "gemini"
    variables = [
        EnvVar(
            "FORKABLE_ENV",
            "`production` refuses to start while a development default would be used.",
            True,
            "production",
        ),
        EnvVar(
            "DATABASE_URL",
            "PostgreSQL URL (postgres://user:password@host:5432/db). compose.yaml sets its own "
            "database; Vercel/Neon may name it POSTGRES_URL.",
            True,
        ),
        EnvVar(
            "REDIS_URL",
            "Redis URL for rate limits and caching across processes (Vercel KV/Upstash: KV_URL).",
            False,
        ),
    ]
    if uses_gemini:
        variables.append(
            EnvVar(
                "GEMINI_API_KEY",
                f"Google Gemini key for the {manifest.transform.model} model "
                "(https://aistudio.google.com/apikey).",
                True,
            )
        )
    variables += [
        EnvVar("STRIPE_SECRET_KEY", "Stripe secret key (sk_live_... or sk_test_...).", True),
        EnvVar(
            "STRIPE_WEBHOOK_SECRET",
            f"Signing secret (whsec_...) of the Stripe webhook to "
            f"https://{manifest.site.domain}/api/v1/webhooks/stripe.",
            True,
        ),
        EnvVar(
            "FORKABLE_METRICS_TOKEN",
            "Bearer token that Prometheus sends to read /metrics: 32+ random characters "
            "(`openssl rand -hex 32`).",
            True,
        ),
        EnvVar(
            "FORKABLE_SMTP_URL",
            "Mail to users (address verification, password reset, receipts): "
            "smtp://user:pass@host:587 (STARTTLS), smtps://user:pass@host:465, or "
            "smtp://host:25 for a local relay.",
            True,
        ),
        EnvVar(
            "FORKABLE_MAIL_FROM",
            f"Sender address of those mails (no-reply@{manifest.site.domain} when blank).",
            False,
        ),
        EnvVar("SENTRY_DSN", "Sentry DSN for error reports.", False),
        EnvVar(
            "CRON_SECRET",
            f"Vercel only: 32+ random characters; Vercel Cron sends it to {MAINTENANCE_PATH}, "
            "which returns the tokens of generations cut off by a timeout.",
            False,
        ),
        EnvVar(
            "POSTGRES_PASSWORD",
            "Docker only: the password of the compose.yaml database (URL-safe characters).",
            False,
        ),
        EnvVar(
            "FORKABLE_PORT",
            "Docker only: the host port of the compose.yaml proxy, where the site answers "
            "(8000 when blank).",
            False,
        ),
        EnvVar(
            "MINIO_ROOT_USER",
            "Docker only: the user of the compose.yaml MinIO (3+ characters), which the app "
            "signs in as.",
            False,
        ),
        EnvVar(
            "MINIO_ROOT_PASSWORD",
            "Docker only: the password of the compose.yaml MinIO (8+ characters).",
            False,
        ),
        EnvVar(
            "FORKABLE_MEDIA_URL",
            "Where photos and results live when the site runs on more than one machine: "
            "s3://bucket/prefix (AWS S3, Cloudflare R2, MinIO), with AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY, AWS_REGION and, for R2 or MinIO, AWS_ENDPOINT_URL_S3. "
            "compose.yaml sets its own bucket.",
            False,
        ),
        EnvVar(
            "FORKABLE_TRUSTED_PROXIES",
            "Behind a reverse proxy of your own only: the address or network it connects from "
            "(e.g. 172.18.0.0/16), whose X-Forwarded-For names the client; without it every "
            "visitor shares the proxy's address and its login limits. Leave it unset on Vercel "
            "and when clients connect directly; compose.yaml sets its own.",
            False,
        ),
    ]
    return variables


def needs_filters(manifest: Manifest) -> bool:
    """Whether the site runs a local filter (its provider or its fallback): OpenCV comes along."""
    return manifest.transform.local_filter is not None


def forkable_extras(manifest: Manifest) -> tuple[str, ...]:
    """The extras of forkable a deployment of this site installs."""
    return (FILTERS_EXTRA,) if needs_filters(manifest) else ()


def forkable_requirement(manifest: Manifest, wheel: VendoredWheel) -> str:
    """The line of `requirements.txt`: the vendored wheel, with the site's extras.

    A local path with extras (``./vendor/x.whl[filters]``) is a requirement pip and uv read;
    PEP 508's ``name[extra] @ URL`` would need an absolute file URL.
    """
    extras = forkable_extras(manifest)
    return f"./{wheel.path}" + (f"[{','.join(extras)}]" if extras else "")


def site_paths(folder: Path, manifest: Manifest) -> list[str]:
    """Files and folders of the site besides `site.toml`: `assets/` and any asset outside it."""
    paths = [ASSETS_DIR] if (folder / ASSETS_DIR).is_dir() else []
    brand = manifest.brand
    for relative in (brand.logo, brand.favicon, brand.extra_css):
        if relative and not relative.startswith(f"{ASSETS_DIR}/") and relative not in paths:
            paths.append(relative)
    return paths


def vercel_config() -> dict[str, object]:
    """`vercel.json`: every path goes to the one Python function, given time to generate."""
    return {
        "$schema": "https://openapi.vercel.sh/vercel.json",
        "functions": {
            "api/index.py": {
                "maxDuration": MAX_DURATION,
                # The function serves the site's files at run time; Vercel bundles only code.
                "includeFiles": "{site.toml,assets/**}",
            }
        },
        "rewrites": [{"source": "/(.*)", "destination": "/api/index"}],
        # `forkable deploy` creates (and smoke-tests) each production deployment itself, and the
        # Actions workflow deploys later pushes: Vercel's own Git deploys would be a third.
        "git": {"deploymentEnabled": False},
        "crons": [{"path": MAINTENANCE_PATH, "schedule": CRON_SCHEDULE}],
    }


def render_bundle(
    folder: Path,
    manifest: Manifest,
    wheel: VendoredWheel,
    *,
    source: str | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, bytes]:
    """Every generated file for the site in ``folder`` (or those ``only`` names), by path.

    ``source`` names the site this one was forked from, for its README.
    """
    version = wheel.filename.split("-")[1]
    context: dict[str, object] = {
        "site": manifest.site,
        "version": version,
        "wheel_path": wheel.path,
        "forkable_requirement": forkable_requirement(manifest, wheel),
        "filters_extra": FILTERS_EXTRA if needs_filters(manifest) else None,
        "source": source,
        "local_filter": manifest.transform.local_filter,
        "provider": manifest.transform.provider,
        "site_paths": site_paths(folder, manifest),
        "python_version": PYTHON_VERSION,
        "postgres_version": POSTGRES_VERSION,
        "redis_version": REDIS_VERSION,
        "caddy_version": CADDY_VERSION,
        "minio_version": MINIO_VERSION,
        "minio_client_version": MINIO_CLIENT_VERSION,
        "node_version": NODE_VERSION,
        "max_duration": MAX_DURATION,
        "gh": lambda expression: "${{ " + expression + " }}",
    }
    wanted = set(only) if only is not None else None
    files: dict[str, bytes] = {}
    for path, template in _TEMPLATED.items():
        if wanted is None or path in wanted:
            files[path] = _TEMPLATES.get_template(template).render(context).encode()
    if wanted is None or "vercel.json" in wanted:
        files["vercel.json"] = (json.dumps(vercel_config(), indent=2) + "\n").encode()
    if wanted is None or ".env.example" in wanted:
        files[".env.example"] = render_env_example(manifest).encode()
    if wanted is None or WHEEL in wanted:
        files[wheel.path] = wheel.data
    return dict(sorted(files.items()))


def render_env_example(manifest: Manifest) -> str:
    """`.env.example`: each variable with a comment saying what it is and if it is required."""
    lines = [
        f"# Environment of {one_line(manifest.site.name)}: copy to .env (never commit .env) and "
        "fill it in.",
        "# Docker: compose.yaml reads .env. Vercel: set these as the project's environment",
        "# variables (`forkable deploy . --target vercel` sends them). site.toml holds no secrets.",
    ]
    for var in environment_for(manifest):
        need = "Required in production." if var.required else "Optional."
        comment = textwrap.wrap(f"{var.comment} {need}", width=96, break_on_hyphens=False)
        lines += [
            "",
            *(f"# {one_line(line)}" for line in comment),
            f"{var.name}={one_line(var.example)}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Written:
    """What writing one file did: ``created``, ``updated`` or ``unchanged``."""

    path: str
    status: str


def write_bundle(folder: Path, files: Mapping[str, bytes]) -> list[Written]:
    """Write ``files`` into ``folder``; other vendored forkable wheels there are removed."""
    results: list[Written] = []
    for relative, data in files.items():
        target = folder / relative
        old = target.read_bytes() if target.is_file() else None
        if old == data:
            results.append(Written(relative, "unchanged"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        results.append(Written(relative, "created" if old is None else "updated"))
    vendored = {Path(relative).name for relative in files if relative.startswith(f"{VENDOR_DIR}/")}
    if vendored:
        # requirements.txt names exactly one wheel: an older one would only mislead.
        for stale in sorted((folder / VENDOR_DIR).glob("forkable-*.whl")):
            if stale.name not in vendored:
                stale.unlink()
                results.append(Written(f"{VENDOR_DIR}/{stale.name}", "removed"))
    return results
