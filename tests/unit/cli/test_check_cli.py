"""`forkable check` and the CLI's error behaviour, as a user runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def forkable(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forkable", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_check_passes_on_every_example() -> None:
    result = forkable("check", *(str(p) for p in sorted((ROOT / "examples").glob("*/site.toml"))))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == 3


def test_check_given_a_glob_skips_what_is_not_a_site() -> None:
    # `forkable check examples/*` as the README has it: the shell passes PHOTO-CREDITS.md and
    # plugins/ too.
    result = forkable("check", *(str(p) for p in sorted((ROOT / "examples").glob("*"))))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == 3
    assert result.stderr.splitlines() == [
        f"skipped {ROOT / 'examples' / 'PHOTO-CREDITS.md'}: not a site folder, a site.toml or "
        "a folder of sites",
        f"skipped {ROOT / 'examples' / 'plugins'}: not a site folder, a site.toml or a folder "
        "of sites",
    ]


def test_check_refuses_a_single_path_that_is_not_a_site() -> None:
    credits = ROOT / "examples" / "PHOTO-CREDITS.md"
    result = forkable("check", str(credits))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {credits}: not a site folder, a site.toml or a folder of sites"
    ]


def test_check_refuses_a_path_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "colorbook"
    result = forkable("check", str(missing), str(ROOT / "examples" / "coloringbook"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {missing}: no such file or folder"]
    assert "ok: " not in result.stdout


def test_check_with_nothing_but_non_sites_fails() -> None:
    result = forkable("check", str(ROOT / "examples" / "PHOTO-CREDITS.md"), str(ROOT / "docs"))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "error: no site among 2 paths"


def test_check_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(ROOT / "examples" / "coloringbook", folder)
    manifest = folder / "site.toml"
    text = manifest.read_text()
    text = text.replace('primary_color = "#ff6b6b"', 'primary_color = "pink"')
    text = text.replace("tokens = 20\n", "tokens = 0\n")
    manifest.write_text(text)
    result = forkable("check", str(folder))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "2 problems found"
    assert lines[0].startswith(f"{manifest}:")
    assert ": brand.primary_color: " in lines[0]
    assert ": pricing.packs[0].tokens: " in lines[1]
    assert "Traceback" not in result.stderr


def test_serve_with_a_broken_manifest_prints_one_line_per_problem(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    shutil.copytree(ROOT / "examples" / "coloringbook", folder)
    (folder / "assets" / "logo.svg").unlink()
    result = forkable("serve", str(folder), "--port", "0")
    assert result.returncode == 1
    lines = (folder / "site.toml").read_text().splitlines()
    logo_line = next(n for n, line in enumerate(lines, start=1) if line.startswith("logo ="))
    assert result.stderr.strip().splitlines() == [
        f"error: {folder / 'site.toml'}:{logo_line}: brand.logo: file not found: assets/logo.svg"
    ]


def test_production_guard_on_the_command_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "forkable", "serve", str(ROOT / "examples" / "coloringbook")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "FORKABLE_ENV": "production",
            "FORKABLE_DATA_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines)
    # One line per problem: demo payments, no metrics token, no SMTP for mail to users.
    assert len(lines) == 3
    assert any("FORKABLE_SMTP_URL" in line for line in lines)
    assert "Traceback" not in result.stderr


def test_every_command_has_help() -> None:
    for command in (
        ["--help"],
        ["serve", "--help"],
        ["check", "--help"],
        ["db", "upgrade", "--help"],
    ):
        result = forkable(*command)
        assert result.returncode == 0, command
        assert "Usage" in result.stdout


def test_db_upgrade(tmp_path: Path) -> None:
    env_cmd = [sys.executable, "-m", "forkable", "db", "upgrade"]
    environ = {"PATH": "/usr/bin:/bin", "FORKABLE_DATA_DIR": str(tmp_path)}
    first = subprocess.run(env_cmd, capture_output=True, text=True, env=environ, check=False)
    assert first.returncode == 0, first.stderr
    assert "database upgraded from empty to" in first.stdout
    second = subprocess.run(env_cmd, capture_output=True, text=True, env=environ, check=False)
    assert "database is up to date" in second.stdout
    assert (tmp_path / "forkable.sqlite3").is_file()
