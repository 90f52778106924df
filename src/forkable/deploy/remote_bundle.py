"""What a remote deploy ships: the site's files (never its secrets) and the secret values."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from forkable.deploy.bundle import GENERATED_FILES
from forkable.deploy.http_retry import RemoteDeployError
from forkable.deploy.wheel import VENDOR_DIR
from forkable.manifest import MANIFEST_NAME, Manifest
from forkable.sites import ASSETS_DIR

# Secrets a site may keep in its `.env`; these (and only these) go to GitHub and Vercel.
SITE_SECRETS = (
    "DATABASE_URL",
    "REDIS_URL",
    "GEMINI_API_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "FORKABLE_METRICS_TOKEN",
    "SENTRY_DSN",
    "CRON_SECRET",
    "FORKABLE_SMTP_URL",
    "FORKABLE_MAIL_FROM",
    # Media in a bucket: a serverless host keeps no disk (SPEC section 4).
    "FORKABLE_MEDIA_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_S3",
)
ENV_FILE = ".env"
# Local state and caches: never part of a site, not even worth a line in the listing.
# (`.vercel/` may hold `vercel pull`'s decrypted env files.)
_QUIET_DIRS = frozenset(
    {".git", ".venv", "__pycache__", ".vercel", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
)
_TOP_LEVEL_QUIET_DIRS = frozenset({"var"})  # the local data folder: databases, media
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
# What `assets/` (and a brand file outside it) may ship: images, stylesheets, fonts.
ASSET_SUFFIXES = frozenset(
    {".svg", ".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".ico", ".css"}
    | {".woff", ".woff2", ".ttf", ".otf"}
)
_VENDORED_WHEEL = re.compile(rf"{VENDOR_DIR}/forkable-[^/]+\.whl")
# Names of files that hold keys and credentials, whatever folder they are in.
_SECRET_SUFFIXES = frozenset(
    {".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".asc", ".gpg", ".kdbx", ".ovpn"}
)
_SECRET_NAMES = frozenset(
    {".envrc", ".netrc", ".npmrc", ".pypirc", ".git-credentials", ".htpasswd", "credentials",
     "credentials.json", "service-account.json", "secrets.toml", "secrets.json"}
)  # fmt: skip
_SECRET_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
NOT_IN_BUNDLE = (
    "not part of a site (only site.toml, images, stylesheets and fonts under assets/, "
    "and the generated files are pushed)"
)


class EnvFileError(RemoteDeployError):
    """The site's `.env` has a line that is not KEY=VALUE."""


@dataclass(frozen=True)
class SiteFile:
    """One file to push: its path in the repository, bytes and git mode."""

    path: str
    data: bytes = field(repr=False)
    executable: bool = False

    @property
    def mode(self) -> str:
        return "100755" if self.executable else "100644"

    @property
    def blob_sha(self) -> str:
        """The git blob id, as GitHub will compute it (lets unchanged files skip the upload)."""
        header = f"blob {len(self.data)}\0".encode()
        return hashlib.sha1(header + self.data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Skipped:
    """A file or folder of the site folder that is not pushed, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


@dataclass(frozen=True)
class SiteBundle:
    """What a remote deploy pushes, and what it leaves behind (listed in a dry run)."""

    files: list[SiteFile]
    skipped: list[Skipped]


def looks_secret(name: str) -> bool:
    """A file name that usually holds a key or credentials (`.env.example` is meant to be shared)."""
    lowered = name.lower()
    if lowered == ENV_FILE or (lowered.startswith(ENV_FILE) and lowered != ".env.example"):
        return True  # .env, .env.local, .envrc, ...
    return (
        lowered in _SECRET_NAMES
        or lowered.startswith(_SECRET_PREFIXES)
        or Path(lowered).suffix in _SECRET_SUFFIXES
    )


def _allowed(relative: str, brand_files: frozenset[str]) -> bool:
    if relative == MANIFEST_NAME or relative in GENERATED_FILES:
        return True
    if _VENDORED_WHEEL.fullmatch(relative):
        return True
    in_assets = relative.startswith(f"{ASSETS_DIR}/") or relative in brand_files
    return in_assets and Path(relative).suffix.lower() in ASSET_SUFFIXES


def _read_regular_file(path: Path) -> tuple[bytes, bool] | None:
    """The bytes of a regular file and whether it is executable; None for anything else.

    O_NOFOLLOW: a file swapped for a link after the walk looked at it is still not followed.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None  # a link (ELOOP), a socket, gone since the walk
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return handle.read(), bool(info.st_mode & stat.S_IXUSR)


def site_bundle(folder: Path, manifest: Manifest) -> SiteBundle:
    """The files of the site at ``folder`` a repository gets, from an allow-list.

    Pushed: `site.toml`, images, stylesheets and fonts under `assets/` (and brand files the
    manifest names outside it), the generated files and the vendored wheel. Symbolic links are
    never followed (a link to a home folder would push it), files that look like secrets are
    never pushed, and everything else is listed as skipped.
    """
    brand = manifest.brand
    brand_files = frozenset(p for p in (brand.logo, brand.favicon, brand.extra_css) if p)
    files: list[SiteFile] = []
    skipped: list[Skipped] = []
    for root, dirs, names in os.walk(folder):  # never descends into linked folders
        here = Path(root)
        top = here == folder
        kept_dirs = []
        for name in sorted(dirs):
            if name in _QUIET_DIRS or (top and name in _TOP_LEVEL_QUIET_DIRS):
                continue
            if (here / name).is_symlink():
                relative = (here / name).relative_to(folder).as_posix()
                skipped.append(Skipped(relative + "/", "symbolic link, not followed"))
                continue
            kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in sorted(names):
            file = here / name
            relative = file.relative_to(folder).as_posix()
            if name.endswith((".pyc", ".pyo")):
                continue
            if file.is_symlink():
                skipped.append(Skipped(relative, "symbolic link, not followed"))
            elif looks_secret(name):
                skipped.append(Skipped(relative, "looks like a secret"))
            elif not _allowed(relative, brand_files):
                skipped.append(Skipped(relative, NOT_IN_BUNDLE))
            else:
                read = _read_regular_file(file)
                if read is None:
                    skipped.append(Skipped(relative, "not a regular file"))
                else:
                    files.append(SiteFile(relative, read[0], executable=read[1]))
    return SiteBundle(
        files=sorted(files, key=lambda f: f.path), skipped=sorted(skipped, key=lambda s: s.path)
    )


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def read_env_file(folder: Path) -> dict[str, str]:
    """KEY=VALUE pairs of ``folder/.env`` (none when it is missing); values are never echoed."""
    path = folder / ENV_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path}: cannot read it: {type(exc).__name__}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.match(stripped)
        if match is None:
            # The line may hold a secret: name its number, never its text.
            raise EnvFileError(f"{path}:{number}: not a KEY=VALUE line")
        values[match.group(1)] = _unquote(match.group(2).strip())
    return values


def site_secrets(folder: Path) -> dict[str, str]:
    """The known site secrets that `.env` gives a non-empty value, in SITE_SECRETS order."""
    env = read_env_file(folder)
    return {name: env[name] for name in SITE_SECRETS if env.get(name)}
