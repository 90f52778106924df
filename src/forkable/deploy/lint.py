"""Offline checks of generated deploy files with the linters their ecosystems use."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# File -> the command that checks it; the file's path is appended.
LINTERS: dict[str, tuple[str, ...]] = {
    "Dockerfile": ("hadolint", "--no-color"),
    "compose.yaml": ("check-jsonschema", "--builtin-schema", "vendor.compose-spec"),
    ".github/workflows/deploy.yml": (
        "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
    ),
}


@dataclass(frozen=True)
class LintResult:
    """One file's check: the problems found, or why the check could not run."""

    path: str
    tool: str
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is None and not self.problems


def find_tool(name: str) -> str | None:
    """A linter on PATH, or beside this Python (a venv's bin folder is often not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else None


def lint_files(folder: Path, paths: Iterable[str]) -> list[LintResult]:
    """Check each of ``paths`` (relative to ``folder``) that has a linter."""
    return [lint_file(folder, path) for path in paths if path in LINTERS]


def lint_file(folder: Path, path: str) -> LintResult:
    command = LINTERS[path]
    tool = find_tool(command[0])
    if tool is None:
        return LintResult(path, command[0], skipped=f"{command[0]} is not installed")
    return LintResult(path, command[0], problems=_run([tool, *command[1:], path], folder))


def _run(command: Sequence[str], cwd: Path) -> list[str]:
    result = subprocess.run(  # noqa: S603  # a known linter on a file we generated
        list(command), cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode == 0:
        return []
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    name = Path(command[0]).name
    return [line for line in lines if line] or [f"{name} exited with {result.returncode}"]
