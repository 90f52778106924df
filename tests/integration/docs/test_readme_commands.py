"""The commands of README.md and docs/*.md run as written.

Every line of a fenced ```sh, ```bash or ```shell block is a command (a trailing backslash
continues it); in a ```console block, the lines that start with `$ ` are. Untagged blocks are
usage synopses (`forkable serve [PATH] [--port 8000]`), diagrams or output, and are not run.

The commands run one after another, in the order of the files, with bash, in a copy of the
repository in a temporary folder (so `forkable fork ... sites/petpix` from the README leaves
the site that a later `forkable deploy ... --dry-run` names), with their own data folder (in
which the example sites have been served once, as the operator commands assume), and must
exit 0. Those that cannot run here are listed in SKIPPED with the reason; a skipped
command that no longer appears in the docs fails the test, so the list stays true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from forkable.asgi import open_registry
from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SHELL_TAGS = frozenset({"sh", "bash", "shell", "console"})
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)

# Command (as extracted, comments included) -> why it is not run here.
SKIPPED = {
    "make run     # serves examples/coloringbook on http://127.0.0.1:8000": (
        "serves until stopped; `forkable serve` is started and probed by the serving tests"
    ),
    "make test    # runs the whole test suite": "the whole test suite, this test included",
    "make lint    # ruff, mypy (strict on src/) and `make audit`": (
        "builds its own virtualenv from the package index (network); CI runs the linters"
    ),
    "make audit   # pip-audit of the installed packages against OSV's advisories": (
        "asks OSV over the network"
    ),
    "make docs    # regenerate docs/manifest.md after changing the schema": (
        "builds its own virtualenv from the package index (network); "
        "tests/unit/manifest checks the generated docs are current"
    ),
    "forkable serve examples/pencilsketch": "serves until stopped",
    "forkable serve examples            # all three, by host: http://pencilsketch.localhost:8000": (
        "serves until stopped"
    ),
    "forkable deploy sites/petpix --target vercel                                       "
    "# and ship it": "creates a GitHub repository and a Vercel project: network and tokens",
    "export GITHUB_TOKEN=... VERCEL_TOKEN=...": "placeholders for real credentials",
    "forkable deploy sites/petpix --target vercel": (
        "creates a GitHub repository and a Vercel project: network and tokens"
    ),
}


@dataclass(frozen=True)
class Command:
    file: str
    line: int
    text: str


def commands(path: Path) -> list[Command]:
    text = path.read_text(encoding="utf-8")
    found: list[Command] = []
    for block in _FENCE.finditer(text):
        if block.group(1) not in SHELL_TAGS:
            continue
        first_line = text.count("\n", 0, block.start(2)) + 1
        pending: tuple[int, str] | None = None
        for offset, raw in enumerate(block.group(2).splitlines()):
            line = raw.rstrip()
            if block.group(1) == "console":
                if pending is None and not line.startswith("$ "):
                    continue  # output
                line = line.removeprefix("$ ")
            if pending is not None:
                start, joined = pending
                line = f"{joined} {line.strip()}"
            else:
                start = first_line + offset
            if not line.strip() or line.lstrip().startswith("#"):
                pending = None
                continue
            if line.endswith("\\"):
                pending = (start, line[:-1].rstrip())
                continue
            pending = None
            found.append(Command(str(path.relative_to(ROOT)), start, line.strip()))
    return found


def documented_commands() -> list[Command]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [command for file in files for command in commands(file)]


def _copy_of_repository(target: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "var", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"
    )
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def _served_once(sites: Path, data_dir: Path) -> None:
    """What the docs' operator commands assume: a database that has served the example sites
    (`forkable serve` migrates it and registers its sites as it starts)."""
    database = Database(Settings(data_dir=data_dir).resolved_database_url)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(database)
        sync_sites(database, open_registry(sites))
    finally:
        database.dispose()


def test_the_docs_have_commands_to_run() -> None:
    found = documented_commands()
    texts = {command.text for command in found}
    assert (
        "forkable check examples/*          # every problem at once: PATH:LINE: key.path: message"
        in texts
    )
    assert len([c for c in found if c.text not in SKIPPED]) >= 4
    stale = set(SKIPPED) - texts
    assert not stale, f"skipped commands no longer in the docs: {sorted(stale)}"


def test_documented_commands_run_as_written(tmp_path: Path) -> None:
    repo = _copy_of_repository(tmp_path / "repo")
    env = {
        **os.environ,
        # `forkable` is the console script of the Python running the tests; it imports the copy.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(repo / "src"),
        "FORKABLE_DATA_DIR": str(tmp_path / "var"),
        "HOME": str(tmp_path / "home"),
        "GIT_AUTHOR_NAME": "Docs Test",
        "GIT_AUTHOR_EMAIL": "docs@example.com",
        "GIT_COMMITTER_NAME": "Docs Test",
        "GIT_COMMITTER_EMAIL": "docs@example.com",
    }
    for name in ("FORKABLE_SITES", "FORKABLE_DATABASE_URL", "DATABASE_URL", "FORKABLE_ENV"):
        env.pop(name, None)
    (tmp_path / "home").mkdir()
    _served_once(repo / "examples", tmp_path / "var")
    failures: list[str] = []
    for command in documented_commands():
        if command.text in SKIPPED:
            continue
        result = subprocess.run(
            ["bash", "-c", command.text],
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            failures.append(
                f"{command.file}:{command.line}: `{command.text}` exited {result.returncode}:\n"
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
    assert not failures, "\n\n".join(failures)
