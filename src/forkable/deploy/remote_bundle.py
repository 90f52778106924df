"""What a remote deploy ships: the site's files (never its secrets) and the secret values."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from forkable.deploy.http_retry import RemoteDeployError

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
)
ENV_FILE = ".env"
# `.vercel/` may hold `vercel pull`'s decrypted env files; the rest are local caches.
_SKIPPED_DIRS = frozenset(
    {".git", ".venv", "__pycache__", ".vercel", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
)
_TOP_LEVEL_SKIPPED_DIRS = frozenset({"var"})  # the local data folder: databases, media
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


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


def _skipped_file(name: str) -> bool:
    if name.endswith((".pyc", ".pyo")):
        return True
    # `.env` and its variants hold secrets; `.env.example` is meant to be shared.
    return name == ENV_FILE or (name.startswith(ENV_FILE + ".") and name != ".env.example")


def site_files(folder: Path) -> list[SiteFile]:
    """Every file under ``folder`` except VCS, venv, data, caches and `.env`, sorted by path."""
    files: list[SiteFile] = []
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        top = here == folder
        dirs[:] = sorted(
            d for d in dirs if d not in _SKIPPED_DIRS and not (top and d in _TOP_LEVEL_SKIPPED_DIRS)
        )
        for name in sorted(names):
            file = here / name
            if _skipped_file(name) or not file.is_file():
                continue  # sockets, broken links and the like have nothing to push
            relative = file.relative_to(folder).as_posix()
            files.append(SiteFile(relative, file.read_bytes(), executable=os.access(file, os.X_OK)))
    return sorted(files, key=lambda f: f.path)


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
